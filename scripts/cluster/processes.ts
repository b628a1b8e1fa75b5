// Starting, probing and stopping the control-plane processes.
// Every process is started detached (own process group) with its output in a
// log file, and is later identified by pid plus its executable path, so a
// reused pid is never killed by mistake.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, readlinkSync, realpathSync, writeSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";

export type ProcessSpec = {
  /** Component name, e.g. "kube-apiserver"; also the log file's name. */
  name: string;
  bin: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
};

/** Starts a detached process whose stdout/stderr go to `logFile` (appended). */
export function startProcess(spec: ProcessSpec, logFile: string): number {
  const fd = openSync(logFile, "a");
  writeSync(fd, `\n===== ${new Date().toISOString()} starting ${spec.bin} ${spec.args.join(" ")}\n`);
  try {
    const child = spawn(spec.bin, spec.args, {
      cwd: spec.cwd ?? process.cwd(),
      env: { ...process.env, ...spec.env },
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.bin}`);
    child.on("error", () => {
      // reported through the health checks and the log file
    });
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** True if `pid` exists and is not a zombie. */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** True if `pid` is alive and runs the executable `bin`. */
export function isOurProcess(pid: number, bin: string): boolean {
  if (!isPidAlive(pid)) return false;
  let real = bin;
  try {
    real = realpathSync(bin);
  } catch {
    // binary removed from the cache: compare the recorded path
  }
  try {
    const exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "");
    return exe === real || exe === bin;
  } catch {
    try {
      const argv0 = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0];
      return argv0 === bin;
    } catch {
      return false;
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig); // its process group (it was started detached)
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // gone
    }
  }
}

/** SIGTERM (or `sig`), then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(
  pid: number,
  bin: string,
  options: { graceMs?: number; signal?: NodeJS.Signals } = {},
): Promise<void> {
  if (!isOurProcess(pid, bin)) return;
  const graceMs = options.graceMs ?? 10_000;
  signal(pid, options.signal ?? "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isPidAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isPidAlive(pid)) {
    signal(pid, "SIGKILL");
    const killDeadline = Date.now() + 5_000;
    while (isPidAlive(pid) && Date.now() < killDeadline) await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `count` distinct free TCP ports on 127.0.0.1 (held open together, then released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolvePromise, reject) => {
          const s = createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolvePromise(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === "string") throw new Error("unexpected server address");
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export type TlsClient = { ca?: string; cert?: string; key?: string; insecure?: boolean };

export type HttpResult = { status: number; body: string };

/** GET `url` (http or https) with a short timeout. */
export function httpGet(url: string, tls: TlsClient = {}, timeoutMs = 3000): Promise<HttpResult> {
  return new Promise((resolvePromise, reject) => {
    const u = new URL(url);
    const onResponse = (res: import("node:http").IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolvePromise({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    };
    const req =
      u.protocol === "https:"
        ? httpsRequest(
            u,
            {
              method: "GET",
              timeout: timeoutMs,
              ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
              ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
              ...(tls.key !== undefined ? { key: tls.key } : {}),
              rejectUnauthorized: !tls.insecure,
            },
            onResponse,
          )
        : httpRequest(u, { method: "GET", timeout: timeoutMs }, onResponse);
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs}ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Last `lines` lines of a file ("" if it does not exist). */
export function tailFile(path: string, lines = 30): string {
  if (!existsSync(path)) return "";
  const text = readFileSync(path, "utf8");
  return text.split("\n").slice(-lines - 1).join("\n");
}

export class StartError extends Error {
  readonly component: string;
  constructor(component: string, message: string) {
    super(message);
    this.name = "StartError";
    this.component = component;
  }
}

/**
 * Polls `check` until it returns true. Fails early if the process `pid`
 * exits, or after `timeoutMs`; the error names `component`.
 */
export async function waitUntil(
  component: string,
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; pid?: number; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError = "";
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (options.pid !== undefined && !isPidAlive(options.pid)) {
      throw new StartError(component, `${component} exited while waiting for ${what}`);
    }
    if (Date.now() > deadline) {
      throw new StartError(
        component,
        `timed out after ${options.timeoutMs / 1000}s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ""}`,
      );
    }
    await sleep(options.intervalMs ?? 200);
  }
}
