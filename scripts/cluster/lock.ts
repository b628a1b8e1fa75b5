// A lock file holding the owner's pid; a lock whose owner died is taken over.
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import type { Logger } from "./log.ts";
import { isPidAlive, sleep } from "./processes.ts";

/** Waits for and takes the lock at `path`; returns its release function. */
export async function acquireLock(path: string, log: Logger): Promise<() => void> {
  let lastNote = 0;
  for (;;) {
    try {
      const fd = openSync(path, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(path, "utf8").trim());
    } catch {
      continue;
    }
    if (!Number.isInteger(owner) || owner <= 0 || !isPidAlive(owner)) {
      try {
        unlinkSync(path);
      } catch {
        // someone else took it over
      }
      continue;
    }
    if (Date.now() - lastNote > 30_000) {
      log(`waiting for another build (pid ${owner}) holding ${path}`);
      lastNote = Date.now();
    }
    await sleep(1000);
  }
}
