// Tears a control plane down when the process that owns it dies.
//   node scripts/cluster/watchdog.ts <ownerPid> <stateDir>
// Started by up({ stopWhenProcessExits: pid }); exits by itself once the
// state directory is gone (a normal `down`).
import { existsSync } from "node:fs";
import { down } from "./controlPlane.ts";
import { isPidAlive } from "./processes.ts";

const [pidArg, stateDir] = process.argv.slice(2);
const owner = Number(pidArg);
if (!Number.isInteger(owner) || owner <= 0 || !stateDir) {
  process.stderr.write("usage: watchdog.ts <ownerPid> <stateDir>\n");
  process.exit(2);
}

const timer = setInterval(() => {
  if (!existsSync(stateDir)) {
    clearInterval(timer);
    return;
  }
  if (isPidAlive(owner)) return;
  clearInterval(timer);
  const log = (m: string) => process.stderr.write(`[watchdog] ${m}\n`);
  log(`owner pid ${owner} exited: tearing down ${stateDir}`);
  down(stateDir, { log }).then(
    () => process.exit(0),
    (err: unknown) => {
      log(String(err));
      process.exit(1);
    },
  );
}, 1000);
