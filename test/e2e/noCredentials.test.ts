import { createServer, type IncomingHttpHeaders, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterEach, describe, expect, inject, it } from "vitest"
import { NO_CREDENTIALS_WARNING } from "../../src/config/credentials.ts"
import { GITHUB_TOKEN } from "./support/constants.ts"
import { apply } from "./support/kube.ts"
import { recordsLand, runningDigests, useScenario } from "./support/scenario.ts"
import { deployment } from "./support/workloads.ts"

// The original runs without any credential, for a BASE_URL that adds them
// (its own example points BASE_URL at such a service in the cluster). Here
// that service is a small forwarder in front of the simulator: it adds the
// token and remembers what the tracker itself sent.

interface Forwarder {
  readonly url: string
  /** Headers of every request the tracker sent to the forwarder. */
  readonly received: Array<IncomingHttpHeaders>
  readonly close: () => Promise<void>
}

/** Forwards every request to `target` with `Authorization: Bearer <token>` added. */
const credentialAddingForwarder = async (target: string, token: string): Promise<Forwarder> => {
  const received: Array<IncomingHttpHeaders> = []
  const server: Server = createServer((req, res) => {
    received.push(req.headers)
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const headers = new Headers()
      for (const [name, value] of Object.entries(req.headers)) {
        if (value === undefined || ["host", "connection", "content-length"].includes(name)) continue
        headers.set(name, Array.isArray(value) ? value.join(", ") : value)
      }
      headers.set("authorization", `Bearer ${token}`)
      const body = chunks.length === 0 ? undefined : Buffer.concat(chunks)
      fetch(`${target}${req.url ?? "/"}`, { method: req.method ?? "GET", headers, ...(body === undefined ? {} : { body }) })
        .then(async (response) => {
          const text = Buffer.from(await response.arrayBuffer())
          res.writeHead(response.status, Object.fromEntries([...response.headers].filter(([name]) => name !== "content-encoding")))
          res.end(text)
        })
        .catch((error: unknown) => {
          res.writeHead(502)
          res.end(String(error))
        })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

describe("no credentials (a BASE_URL that adds them)", () => {
  let forwarder: Forwarder | undefined
  afterEach(async () => {
    await forwarder?.close()
  })

  it("starts with one warning, sends no Authorization header, and its records land through the service", async () => {
    forwarder = await credentialAddingForwarder(inject("githubUrl"), GITHUB_TOKEN)
    const s = useScenario("nocreds")
    const ns = await s.namespace("nocreds")
    const tracker = await s.startTracker({ githubUrl: forwarder.url, env: { API_TOKEN: "" }, args: ["-namespace", ns] })

    expect(tracker.logs().filter((l) => l.logLevel === "WARN").map((l) => l.message)).toEqual([NO_CREDENTIALS_WARNING])
    expect(tracker.logsWith("Starting deployment-tracker")[0]?.annotations["auth"]).toBe("none")

    await apply(deployment(ns, "web", { replicas: 1, containers: [{ name: "app", image: "ghcr.io/octo-e2e/anon:1" }] }))
    const expected = await runningDigests(ns, "web", "app=web", { count: 1 })
    await recordsLand(s, expected, "deployed")

    expect(forwarder.received.length).toBeGreaterThan(0)
    expect(forwarder.received.filter((headers) => "authorization" in headers)).toEqual([])
    // The simulator saw the forwarder's credential on every request (no "auth" violation).
    expect((await s.github.requests()).every((r) => r.headers["authorization"]?.startsWith("Bearer"))).toBe(true)
    await s.expectNoViolations()
  })
})
