// The simulator against real clients: @octokit/auth-app minting installation
// tokens, and the standalone CLI as the demo runs it.
import { spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { createAppAuth } from "@octokit/auth-app"
// A dependency of @octokit/auth-app, used here to point it at the simulator.
import { request } from "@octokit/request"
import { describe, expect, it } from "vitest"
import { startGitHubSimulator, type GitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import { appKeys, call, digest, RECORD_PATH, recordBody } from "./helpers.ts"

describe("github-sim with @octokit/auth-app", () => {
  it("accepts the JWT auth-app signs (PKCS#1 key, app id or client id) and the token it mints", async () => {
    const { privateKey, publicKeyPem } = appKeys()
    const pkcs1 = privateKey.export({ type: "pkcs1", format: "pem" }).toString()
    const sim = await startGitHubSimulator({
      app: { id: 123, clientId: "Iv23liClient", publicKey: publicKeyPem, installationIds: [456] }
    })
    try {
      for (const appId of [123, "Iv23liClient"]) {
        const auth = createAppAuth({
          appId,
          privateKey: pkcs1,
          installationId: 456,
          request: request.defaults({ baseUrl: sim.url, headers: { accept: "application/vnd.github+json" } })
        })
        const { token } = await auth({ type: "installation" })
        expect(token).toMatch(/^ghs_/)
        expect((await call(sim, "POST", RECORD_PATH, { body: recordBody(), token })).status).toBe(200)
      }
      expect(sim.violations()).toEqual([])
    } finally {
      await sim.close()
    }
  })
})

async function startCli(args: ReadonlyArray<string>): Promise<{ url: string; lines: Array<Record<string, any>>; stop: () => void }> {
  const child = spawn(process.execPath, ["scripts/github-sim/main.ts", ...args], { stdio: ["ignore", "pipe", "inherit"] })
  const lines: Array<Record<string, any>> = []
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("simulator did not print its URL")), 10_000)
    createInterface({ input: child.stdout }).on("line", (line) => {
      const listening = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)
      if (listening?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(listening[1])
      } else if (line.startsWith("{")) {
        lines.push(JSON.parse(line) as Record<string, any>)
      }
    })
    child.once("exit", (code) => reject(new Error(`simulator exited with ${code}`)))
  })
  return { url, lines, stop: () => child.kill("SIGTERM") }
}

describe("github-sim CLI", () => {
  it("listens on a free port, reads --unattested-digests and logs each request and record as JSON", async () => {
    const dir = mkdtempSync(join(tmpdir(), "github-sim-"))
    const file = join(dir, "unattested.txt")
    writeFileSync(file, `# not attested\n${digest("ghost")}\n\n`)
    const cli = await startCli(["--port", "0", "--token", "cli-token", "--unattested-digests", file, "--log"])
    try {
      const sim = { url: cli.url } as GitHubSimulator
      expect((await call(sim, "POST", RECORD_PATH, { body: recordBody(), token: "cli-token" })).status).toBe(200)
      expect((await call(sim, "POST", RECORD_PATH, { body: recordBody({ digest: digest("ghost") }), token: "cli-token" })).status).toBe(404)
      const records = (await (await fetch(`${cli.url}/_sim/records`)).json()) as unknown[]
      expect(records).toHaveLength(1)
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(cli.lines.filter((l) => l["event"] === "record").map((l) => l["deployment_name"])).toEqual(["shop-web-app"])
      expect(cli.lines.filter((l) => l["event"] === "request").map((l) => l["status"])).toEqual([200, 404])
    } finally {
      cli.stop()
    }
  })
})
