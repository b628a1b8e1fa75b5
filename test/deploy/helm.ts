import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { ensureHelm } from "../../scripts/helm/build.ts"
import { CHART_PATH, type KubeObject, MANIFEST_VALUES_PATH, parseObjects } from "./kubeObjects.ts"

// helm from the project's cache (scripts/helm), with its own config, cache
// and data folders, so nothing from the user's helm setup takes part.

export interface Helm {
  readonly run: (args: ReadonlyArray<string>) => { status: number | null; stdout: string; stderr: string }
  /** `helm template` of the chart with these values files and --set pairs; throws on failure. */
  readonly template: (options?: TemplateOptions) => Array<KubeObject>
  /** The same, as the failure's message (throws when it succeeds). */
  readonly templateError: (options?: TemplateOptions) => string
  readonly templateText: (options?: TemplateOptions) => { status: number | null; stdout: string; stderr: string }
  readonly close: () => void
}

export interface TemplateOptions {
  readonly release?: string
  readonly namespace?: string
  /** Values files; default: the values that render the manifest. */
  readonly valuesFiles?: ReadonlyArray<string>
  /** --set pairs (`key=value`). */
  readonly set?: ReadonlyArray<string>
  /** --set-string pairs. */
  readonly setString?: ReadonlyArray<string>
  /** --set-literal pairs: the value verbatim (e.g. a template with braces and commas). */
  readonly setLiteral?: ReadonlyArray<string>
}

export const CHART_DIR = fileURLToPath(CHART_PATH)
export const MANIFEST_VALUES = fileURLToPath(MANIFEST_VALUES_PATH)

export const openHelm = async (): Promise<Helm> => {
  const { binary } = await ensureHelm({ log: (m) => process.stderr.write(`[helm] ${m}\n`) })
  const home = mkdtempSync(join(tmpdir(), "dt-helm-"))
  const env = {
    PATH: process.env["PATH"] ?? "",
    HOME: home,
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_DATA_HOME: join(home, "data")
  }
  const run = (args: ReadonlyArray<string>) => {
    const result = spawnSync(binary, args, { env, encoding: "utf8", timeout: 120_000 })
    if (result.error !== undefined) throw result.error
    return { status: result.status, stdout: result.stdout, stderr: result.stderr }
  }
  const templateText = (options: TemplateOptions = {}) =>
    run([
      "template",
      options.release ?? "deployment-tracker",
      CHART_DIR,
      "--namespace",
      options.namespace ?? "deployment-tracker",
      ...(options.valuesFiles ?? [MANIFEST_VALUES]).flatMap((file) => ["--values", file]),
      ...(options.set ?? []).flatMap((pair) => ["--set", pair]),
      ...(options.setString ?? []).flatMap((pair) => ["--set-string", pair]),
      ...(options.setLiteral ?? []).flatMap((pair) => ["--set-literal", pair])
    ])
  return {
    run,
    templateText,
    template: (options) => {
      const result = templateText(options)
      if (result.status !== 0) throw new Error(`helm template failed (exit ${result.status}):\n${result.stderr}`)
      return parseObjects(result.stdout)
    },
    templateError: (options) => {
      const result = templateText(options)
      if (result.status === 0) throw new Error("helm template succeeded; a failure was expected")
      return result.stderr
    },
    close: () => rmSync(home, { recursive: true, force: true })
  }
}
