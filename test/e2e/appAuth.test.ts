import { generateKeyPairSync } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"
import { type GitHubSimulator, startGitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import { eventually } from "./support/eventually.ts"
import { apply } from "./support/kube.ts"
import { runningDigests, useScenario } from "./support/scenario.ts"
import { TrackerProcess } from "./support/tracker.ts"
import { deployment } from "./support/workloads.ts"

// The built tracker authenticating as a GitHub App against a simulator of
// this file's own, whose installation tokens live 3 s: tokens expire between
// workloads and must be replaced without a single failed record. API_TOKEN
// stays set too (the harness sets it): complete App settings take precedence.

const APP_ID = "31337"
const INSTALLATION = 4711
const TOKEN_TTL_MS = 3_000

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
// GitHub's downloaded .pem is PKCS#1.
const PKCS1_PEM = privateKey.export({ type: "pkcs1", format: "pem" }).toString()
const KEY_LINES = PKCS1_PEM.split("\n").filter((line) => line.length > 20 && !line.startsWith("-----"))

let sim: GitHubSimulator
let keyDir: string
let keyFile: string

beforeAll(async () => {
  sim = await startGitHubSimulator({
    app: { id: Number(APP_ID), publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(), installationIds: [INSTALLATION] },
    installationTokenTtlMs: TOKEN_TTL_MS
  })
  keyDir = mkdtempSync(join(tmpdir(), "dt-e2e-appkey-"))
  keyFile = join(keyDir, "app.pem")
  writeFileSync(keyFile, PKCS1_PEM, { mode: 0o600 })
})

afterAll(async () => {
  await sim?.close()
  if (keyDir !== undefined) rmSync(keyDir, { recursive: true, force: true })
})

const appEnv = (installationId = String(INSTALLATION)) => ({
  GH_APP_ID: APP_ID,
  GH_INSTALL_ID: installationId,
  GH_APP_PRIV_KEY_PATH: keyFile
})

/** Nothing secret in what the tracker printed: no line of the key, no installation token. */
const expectNoSecretsIn = (output: string) => {
  for (const line of KEY_LINES) expect(output).not.toContain(line)
  expect(output).not.toContain("PRIVATE KEY")
  for (const minted of sim.installationTokens()) expect(output).not.toContain(minted.token)
}

const web = (namespace: string, name: string) =>
  deployment(namespace, name, { containers: [{ name: "app", image: `ghcr.io/octo-e2e/${name}:1.0` }] })

describe("GitHub App authentication", () => {
  it("installation tokens that expire mid-run are replaced: every record lands, none fails, nothing secret is printed", async () => {
    const s = useScenario("appauth")
    const ns = await s.namespace("appauth")
    const tracker = await s.startTracker({ githubUrl: sim.url, env: appEnv() })
    const ours = () => sim.records().filter((r) => r.org === s.org)

    expect(tracker.logsWith("Authenticated as a GitHub App installation", { app_id: APP_ID })).toHaveLength(1)

    // Three workloads, each created after the token of the one before has expired.
    for (const [index, name] of ["alpha", "beta", "gamma"].entries()) {
      const before = sim.installationTokens()
      const lastToken = before.at(-1)
      if (lastToken !== undefined) {
        await eventually(`token ${before.length} expired`, () => expect(Date.now()).toBeGreaterThan(lastToken.expiresAt), {
          deadlineMs: TOKEN_TTL_MS + 2_000
        })
      }
      await apply(web(ns, name))
      const expected = await runningDigests(ns, name, `app=${name}`)
      await eventually(`record of ${ns}/${name}`, () => {
        const names = ours().map((r) => r.deployment_name)
        expect(names).toContain(`${ns}/${name}/app`)
        expect(ours().find((r) => r.deployment_name === `${ns}/${name}/app`)?.digest).toBe(expected.get(`${ns}/${name}/app`))
      }, { deadlineMs: 30_000 })
      expect(ours()).toHaveLength(index + 1)
      // The expired token was not sent: a fresh one was minted for this workload.
      expect(sim.installationTokens().length).toBeGreaterThan(before.length)
    }

    const posts = sim.requests().filter((r) => r.route === "create-record")
    expect(posts.map((r) => r.status)).toEqual(posts.map(() => 200))
    // An expired or unknown token would have been a 401 and an auth violation.
    expect(sim.violations()).toEqual([])
    expect(await tracker.metric("deptracker_post_record_ok")).toBe(3)
    expect(await tracker.metric("deptracker_post_record_soft_fail")).toBe(0)
    expect(await tracker.metric("deptracker_post_record_hard_fail")).toBe(0)
    expect(await tracker.metric("deptracker_post_record_client_error")).toBe(0)
    expect(await tracker.metric("deptracker_events_processed_failed")).toBe(0)
    // The tracker's token was never the one the harness set (the App wins).
    expect(sim.requests().every((r) => r.headers["authorization"] === "Bearer <redacted>")).toBe(true)
    expectNoSecretsIn(tracker.output())
  })

  it("an installation GitHub refuses stops the start with exit status 2 and one line naming GH_INSTALL_ID", async () => {
    const s = useScenario("appauth-refused")
    const tracker = await TrackerProcess.spawn({
      kubeconfig: inject("trackerKubeconfig"),
      githubUrl: sim.url,
      org: s.org,
      cluster: s.cluster,
      logicalEnvironment: s.logicalEnvironment,
      logFile: join(inject("logDir"), `${s.org}-0.log`),
      env: appEnv("999")
    })
    try {
      const exit = await Promise.race([
        tracker.exited,
        new Promise<"running">((resolve) => setTimeout(() => resolve("running"), 30_000))
      ])
      expect(exit).toEqual({ code: 2, signal: null })
      const stderr = tracker.output().split("\n").filter((line) => line.startsWith("[stderr]"))
      expect(stderr).toHaveLength(1)
      expect(stderr[0]).toMatch(/^\[stderr\] deployment-tracker: invalid setting GH_INSTALL_ID: GitHub refused installation 999 of App 31337 \(HTTP 404/)
      expectNoSecretsIn(tracker.output())
    } finally {
      await tracker.close()
    }
  })
})
