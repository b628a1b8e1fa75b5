import { spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { freePorts } from "../../scripts/cluster/processes.ts"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

// The program as an operator runs it: a real process, real signals, real
// exit codes. Node 24 runs src/main.ts directly (type stripping).
const MAIN = new URL("../../src/main.ts", import.meta.url).pathname

const BASE_ENV = {
  GITHUB_ORG: "octo-org",
  LOGICAL_ENVIRONMENT: "test",
  CLUSTER: "c1",
  API_TOKEN: "ghp_secret_value_never_logged",
  BASE_URL: "http://127.0.0.1:1",
  BULK_CLUSTER_SYNC: "false"
}

interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (args: ReadonlyArray<string>, env: Record<string, string>, whileRunning?: (child: ReturnType<typeof spawn>, output: () => string) => Promise<void>) =>
  new Promise<RunResult>((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { PATH: process.env["PATH"] ?? "", HOME: mkdtempSync(join(tmpdir(), "dt-home-")), ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()))
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
    child.on("error", reject)
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
    if (whileRunning !== undefined) whileRunning(child, () => stdout).catch(reject)
  })

/** Polls until `condition` holds or the deadline passes. */
const waitFor = async (condition: () => boolean, what: string, deadlineMs = 15_000) => {
  const end = performance.now() + deadlineMs
  while (!condition()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe("deployment-tracker process", () => {
  it.each([
    [["-workers", "0"], {}, "-workers"],
    [["-workers", "101"], {}, "-workers"],
    [["-metrics-port", "70000"], {}, "-metrics-port"],
    [["-namespace", "a", "-exclude-namespaces", "b"], {}, "-namespace"],
    [["-no-such-flag"], {}, "-no-such-flag"],
    [[], { GITHUB_ORG: "bad org" }, "GITHUB_ORG"],
    [[], { CLUSTER: "" }, "CLUSTER"],
    [[], { DN_TEMPLATE: "static-name" }, "DN_TEMPLATE"],
    [[], { BASE_URL: "http://github.example.com" }, "BASE_URL"],
    [[], { GH_APP_PRIV_KEY_PATH: "/nonexistent/key.pem", GH_APP_ID: "1", GH_INSTALL_ID: "2" }, "GH_APP_PRIV_KEY_PATH"],
    [["-kubeconfig", "/nonexistent/kubeconfig"], {}, "-kubeconfig"]
  ])("%j %j exits 2 with one line naming %s", async (args, env, setting) => {
    const result = await run(args, { ...BASE_ENV, ...env })
    expect(result.code, result.stderr).toBe(2)
    const lines = result.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(setting)
    expect(result.stderr + result.stdout).not.toContain("ghp_secret_value_never_logged")
  })

  it("--help lists the flags and exits 0", async () => {
    const result = await run(["--help"], {})
    expect(result.code).toBe(0)
    for (const flag of ["-kubeconfig", "-namespace", "-exclude-namespaces", "-workers", "-metrics-port"]) {
      expect(result.stdout).toContain(flag)
    }
  })

  describe("against a minimal API server", () => {
    let apiserver: Server
    let github: Server
    let kubeconfig: string
    const posts: Array<unknown> = []

    beforeAll(async () => {
      apiserver = createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://x")
        res.setHeader("content-type", "application/json")
        // No streaming lists here (as with the WatchList feature gate off): list, then watch.
        if (url.searchParams.get("sendInitialEvents") !== null) {
          res.statusCode = 422
          res.end(JSON.stringify({ kind: "Status", reason: "Invalid", code: 422, message: "sendInitialEvents is forbidden" }))
          return
        }
        if (url.pathname === "/api/v1/pods" && url.searchParams.get("watch") === null) {
          res.end(JSON.stringify({
            kind: "PodList",
            metadata: { resourceVersion: "5" },
            items: [{
              metadata: {
                name: "app-1-x",
                namespace: "default",
                uid: "u1",
                resourceVersion: "4",
                ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "app-1", uid: "r", controller: true }]
              },
              spec: { containers: [{ name: "app", image: "ghcr.io/octo/app:1.0" }] },
              status: { phase: "Running", containerStatuses: [{ name: "app", imageID: `ghcr.io/octo/app@sha256:${"d".repeat(64)}` }] }
            }]
          }))
          return
        }
        if (url.pathname === "/api/v1/pods") return // watch: stay open, quiet
        // Namespaces: the pod's own (metadata only), a quiet watch.
        if (url.pathname === "/api/v1/namespaces") {
          if (url.searchParams.get("watch") !== null) return
          res.end(JSON.stringify({
            kind: "PartialObjectMetadataList",
            metadata: { resourceVersion: "5" },
            items: [{ metadata: { name: "default", uid: "ns-uid", resourceVersion: "1" } }]
          }))
          return
        }
        // The workload watches: empty lists (as the metadata API sends them), quiet watches.
        if (/^\/apis\/(apps|batch)\/v1\/(deployments|daemonsets|statefulsets|jobs|cronjobs)$/.test(url.pathname)) {
          if (url.searchParams.get("watch") !== null) return
          res.end(JSON.stringify({ kind: "PartialObjectMetadataList", metadata: { resourceVersion: "5" }, items: null }))
          return
        }
        res.statusCode = 404
        res.end(JSON.stringify({ kind: "Status", reason: "NotFound", code: 404 }))
      })
      github = createServer((req, res) => {
        let body = ""
        req.on("data", (c: Buffer) => (body += c.toString()))
        req.on("end", () => {
          posts.push(JSON.parse(body))
          res.setHeader("content-type", "application/json")
          res.end(JSON.stringify({ total_count: 1 }))
        })
      })
      await new Promise<void>((r) => apiserver.listen(0, "127.0.0.1", r))
      await new Promise<void>((r) => github.listen(0, "127.0.0.1", r))
      const dir = mkdtempSync(join(tmpdir(), "dt-kube-"))
      kubeconfig = join(dir, "kubeconfig")
      writeFileSync(kubeconfig, [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:" + (apiserver.address() as AddressInfo).port + "', insecure-skip-tls-verify: true}}]",
        "users: [{name: u, user: {token: kube-token}}]",
        "contexts: [{name: x, context: {cluster: c, user: u}}]",
        "current-context: x"
      ].join("\n"))
    })

    afterAll(() => {
      apiserver.closeAllConnections()
      apiserver.close()
      github.closeAllConnections()
      github.close()
    })

    it.each(["SIGTERM", "SIGINT"] as const)("reports the running pod, logs JSON without secrets, and exits 0 on %s", async (signal) => {
      const before = posts.length
      const githubUrl = `http://127.0.0.1:${(github.address() as AddressInfo).port}`
      const [metricsPort] = await freePorts(1)
      const result = await run(
        ["-kubeconfig", kubeconfig, "-metrics-port", String(metricsPort)],
        { ...BASE_ENV, BASE_URL: githubUrl },
        async (child, output) => {
          await waitFor(() => posts.length === before + 1, "the record to be posted")
          await waitFor(() => output().includes("Posted record"), "the log line")
          const scrape = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text())
          expect(scrape).toContain("deptracker_post_record_ok 1")
          expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(200)
          child.kill(signal)
        }
      )
      expect(result.code, result.stderr + result.stdout).toBe(0)
      expect(posts[before]).toMatchObject({ status: "deployed", deployment_name: "default/app/app", return_records: false })
      const lines = result.stdout.trim().split("\n")
      for (const line of lines) expect(() => JSON.parse(line)).not.toThrow()
      expect(result.stdout).not.toContain("ghp_secret_value_never_logged")
      expect(result.stdout).toContain("Shutting down")
    })
  })
})
