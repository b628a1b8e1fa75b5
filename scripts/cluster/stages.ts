// Our kwok Stage files (scripts/cluster/stages/*.yaml), passed to kwok with --config.
// kwok has no built-in stages; without these it refuses to start.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { stagesDir } from "./paths.ts";

/** Annotation prefix: `<prefix><containerName>` overrides that container's image digest. */
export const DIGEST_ANNOTATION_PREFIX = "kwok.deployment-tracker.test/digest-";
/** Annotation: Go duration to wait before a scheduled pod becomes Running. */
export const READY_AFTER_ANNOTATION = "kwok.deployment-tracker.test/ready-after";
/** Annotation: Go duration a Job's pod stays Running before it Succeeds (default 1s). */
export const COMPLETE_AFTER_ANNOTATION = "kwok.deployment-tracker.test/complete-after";

/** The stage YAML files, in a stable order. */
export function stageFiles(): string[] {
  return readdirSync(stagesDir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(stagesDir, f));
}
