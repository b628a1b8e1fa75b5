// The tracker from a staged image (imageContents.ts), started as the
// container would start it: `node dist/main.js <args>` in WORKDIR, read-only,
// as the image's user, with only the environment it is given, in-cluster
// as in a pod (the service account files where the kubelet mounts them,
// KUBERNETES_SERVICE_HOST/PORT) or with a kubeconfig file.
import type { ChildProcess } from "node:child_process"
import { type InClusterSetup, type StagedImage, spawnSandboxed } from "./imageContents.ts"

export interface ImageTrackerOptions {
  readonly kube: { readonly kubeconfig: string } | { readonly inCluster: InClusterSetup }
  readonly metricsPort: number
  readonly env: Readonly<Record<string, string>>
  readonly args?: ReadonlyArray<string>
}

export interface ImageTracker {
  /** Every output line so far (stdout and stderr). */
  readonly output: () => ReadonlyArray<string>
  /** Resolves when /readyz answers 200 and the log says the pod cache synced; rejects on exit or deadline. */
  readonly waitReady: (deadlineMs: number) => Promise<void>
  /** The value of a metric without labels from /metrics. */
  readonly metric: (name: string) => Promise<number | undefined>
  /** SIGTERM, then the exit code (SIGKILL and an error after the deadline). */
  readonly stop: (deadlineMs: number) => Promise<number | null>
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export const startImageTracker = (image: StagedImage, options: ImageTrackerOptions): ImageTracker => {
  const kube = options.kube
  const child: ChildProcess = "kubeconfig" in kube
    ? spawnSandboxed(
      image,
      ["dist/main.js", "-kubeconfig", kube.kubeconfig, `-metrics-port=${options.metricsPort}`, ...(options.args ?? [])],
      options.env
    )
    : spawnSandboxed(
      image,
      ["dist/main.js", `-metrics-port=${options.metricsPort}`, ...(options.args ?? [])],
      { ...options.env, ...kube.inCluster.env },
      { serviceAccountDir: kube.inCluster.serviceAccountDir }
    )
  const lines: Array<string> = []
  for (const stream of [child.stdout, child.stderr]) {
    let partial = ""
    stream?.setEncoding("utf8").on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n")
      partial = parts.pop() ?? ""
      lines.push(...parts.filter((line) => line !== ""))
    })
  }
  let exitCode: number | null | undefined
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code, signal) => {
      exitCode = code ?? (signal === null ? null : 128)
      resolve(exitCode)
    })
  )
  const url = (path: string) => `http://127.0.0.1:${options.metricsPort}${path}`
  const tail = () => lines.slice(-20).join("\n")

  return {
    output: () => lines,
    waitReady: async (deadlineMs) => {
      const deadline = Date.now() + deadlineMs
      for (;;) {
        if (exitCode !== undefined) throw new Error(`the image's tracker exited (${exitCode}) before it was ready:\n${tail()}`)
        const ready = await fetch(url("/readyz")).then((r) => r.status === 200, () => false)
        if (ready && lines.some((line) => line.includes("Caches synced"))) return
        if (Date.now() > deadline) throw new Error(`the image's tracker was not ready within ${deadlineMs} ms:\n${tail()}`)
        await sleep(250)
      }
    },
    metric: async (name) => {
      const text = await (await fetch(url("/metrics"))).text()
      const line = text.split("\n").find((l) => l.startsWith(`${name} `))
      return line === undefined ? undefined : Number(line.slice(name.length + 1))
    },
    stop: async (deadlineMs) => {
      if (exitCode !== undefined) return exitCode
      // The sandbox's shell `exec`s node, so the signal reaches the tracker itself.
      child.kill("SIGTERM")
      const timer = sleep(deadlineMs).then(() => "timeout" as const)
      const outcome = await Promise.race([exited, timer])
      if (outcome === "timeout") {
        child.kill("SIGKILL")
        await exited
        throw new Error(`the image's tracker did not exit within ${deadlineMs} ms of SIGTERM:\n${tail()}`)
      }
      return outcome
    }
  }
}
