import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { generateKeyPairSync } from "node:crypto"
import { lookup } from "node:dns/promises"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer as createHttpsServer, type Server } from "node:https"
import { createRequire } from "node:module"
import type { AddressInfo } from "node:net"
import { hostname as machineName, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from "vitest"
import { type GitHubSimulator, startGitHubSimulator } from "../../scripts/github-sim/simulator.ts"
import { GITHUB_TOKEN } from "./support/constants.ts"
import { eventually } from "./support/eventually.ts"
import { apply } from "./support/kube.ts"
import { runningDigests, type Scenario, useScenario } from "./support/scenario.ts"
import { TrackerProcess } from "./support/tracker.ts"
import { deployment } from "./support/workloads.ts"

// Egress as behind a corporate proxy: the tracker talks to a GitHub
// simulator over HTTPS with a CA of this file's own, through a real forward
// proxy (the `proxy` npm package, run as its own process, logging every
// CONNECT). The simulator's and the collector's names resolve only inside
// the proxy (support/proxyOnlyNames.ts), so whatever reaches them went
// through it: records, App token minting and trace exports. NO_PROXY then
// sends the same requests straight to the simulator, past the proxy; and
// the Kubernetes API connection never uses the proxy variables, only its
// kubeconfig's proxy-url.
//
// Needs `openssl` (to make the test CA and the server certificate).

const PROXY_USER = "dt-e2e"
const PROXY_PASSWORD = "e2e-proxy-s3cret"
const GITHUB_NAME = "github.dt-e2e.test"
const COLLECTOR_NAME = "otel.dt-e2e.test"
/** The API server's name in the proxy-url kubeconfig: it resolves only inside the proxy. */
const KUBE_API_NAME = "kube-api.dt-e2e.test"
const APP_ID = "4242"
const INSTALLATION = 77

const { privateKey: appKey, publicKey: appPublicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })

/** This machine's own name: resolvable here, not `localhost` (which is never proxied), so NO_PROXY decides. */
const MACHINE = machineName()

interface Pki {
  readonly dir: string
  readonly caFile: string
  readonly key: string
  readonly cert: string
}

const openssl = (dir: string, args: ReadonlyArray<string>) => {
  const result = spawnSync("openssl", [...args], { cwd: dir, encoding: "utf8" })
  if (result.error !== undefined) throw new Error(`openssl is needed for this test: ${result.error.message}`)
  if (result.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${result.stderr}`)
}

/** A CA of the test's own and a server certificate it signed for these names and this address. */
const makePki = (names: ReadonlyArray<string>, address: string): Pki => {
  const dir = mkdtempSync(join(tmpdir(), "dt-e2e-egress-"))
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
  openssl(dir, ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=deployment-tracker e2e CA", "-days", "2",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"])
  openssl(dir, ["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=github-sim"])
  writeFileSync(join(dir, "server.ext"), [
    `subjectAltName=${[...names.map((n) => `DNS:${n}`), `IP:${address}`].join(",")}`,
    "basicConstraints=CA:FALSE",
    "extendedKeyUsage=serverAuth",
    ""
  ].join("\n"))
  openssl(dir, ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt",
    "-days", "2", "-extfile", "server.ext"])
  return {
    dir,
    caFile: join(dir, "ca.crt"),
    key: readFileSync(join(dir, "server.key"), "utf8"),
    cert: readFileSync(join(dir, "server.crt"), "utf8")
  }
}

/**
 * The `proxy` package's own command (TooTallNate's HTTP(S) forward proxy),
 * with Basic authentication and its debug log on stderr.
 */
class ForwardProxy {
  readonly child: ChildProcess
  readonly port: number
  /** The proxy's stderr (its debug log), line by line. */
  readonly lines: Array<string>

  private constructor(child: ChildProcess, port: number, lines: Array<string>) {
    this.child = child
    this.port = port
    this.lines = lines
  }

  static async start(onlyHere: ReadonlyMap<string, string>): Promise<ForwardProxy> {
    // The package's command (its "bin"), next to its main module dist/proxy.js.
    const command = join(dirname(createRequire(import.meta.url).resolve("proxy")), "bin", "proxy.js")
    const child = spawn(process.execPath, [
      "--import",
      fileURLToPath(new URL("./support/proxyOnlyNames.ts", import.meta.url)),
      command,
      "--port",
      "0",
      "--authenticate",
      `test "$PROXY_AUTH_USERNAME" = ${PROXY_USER} -a "$PROXY_AUTH_PASSWORD" = ${PROXY_PASSWORD}`
    ], {
      env: {
        PATH: process.env["PATH"] ?? "",
        DEBUG: "proxy*",
        DEBUG_COLORS: "0",
        DT_E2E_PROXY_ONLY_NAMES: [...onlyHere].map(([name, address]) => `${name}=${address}`).join(",")
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const lines: Array<string> = []
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => lines.push(...chunk.split("\n").filter((l) => l !== "")))
    const port = await new Promise<number>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`proxy exited (${code}): ${lines.join("\n")}`)))
      child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
        const match = /listening on port (\d+)/.exec(chunk)
        if (match !== null) resolve(Number(match[1]))
      })
    })
    return new ForwardProxy(child, port, lines)
  }

  /** `http://user:password@127.0.0.1:port`, as HTTPS_PROXY. */
  get url(): string {
    return `http://${PROXY_USER}:${PROXY_PASSWORD}@127.0.0.1:${this.port}`
  }

  /** Every CONNECT target in the proxy's log (`host:port`), from line `from` on. */
  connects(from = 0): Array<string> {
    return this.lines.slice(from).flatMap((line) => {
      const match = /CONNECT (\S+) HTTP\/1\.1/.exec(line)
      return match === null || line.includes("authenticating") ? [] : [match[1]!]
    })
  }

  /** CONNECTs the proxy answered 200 (authenticated and reached). */
  established(from = 0): number {
    return this.lines.slice(from).filter((line) => line.includes("HTTP/1.1 200 Connection established")).length
  }

  stop(): void {
    this.child.kill("SIGTERM")
  }
}

/** An HTTPS OTLP collector that accepts every trace export and counts them. */
const startCollector = async (pki: Pki, address: string): Promise<{ server: Server; port: number; exports: () => number }> => {
  let exports = 0
  const server = createHttpsServer({ key: pki.key, cert: pki.cert }, (req, res) => {
    req.resume()
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") exports++
      res.writeHead(200, { "content-type": "application/json" })
      res.end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, address, resolve))
  return { server, port: (server.address() as AddressInfo).port, exports: () => exports }
}

/**
 * The tracker's kubeconfig, but naming the API server by this machine's
 * name: were the proxy variables applied to it, the proxy's log would show
 * a CONNECT to it (NO_PROXY does not list it, and it is not `localhost`).
 */
const kubeconfigByMachineName = (dir: string): { path: string; apiServer: string } => {
  const original = readFileSync(inject("trackerKubeconfig"), "utf8")
  const match = /^(\s*)server: https:\/\/127\.0\.0\.1:(\d+)\s*$/m.exec(original)
  if (match === null) throw new Error("tracker kubeconfig: no https://127.0.0.1 server line")
  const [line, indent, port] = match
  const path = join(dir, "tracker-by-name.kubeconfig")
  writeFileSync(
    path,
    original.replace(line, `${indent}server: https://${MACHINE}:${port}\n${indent}tls-server-name: localhost`),
    { mode: 0o600 }
  )
  return { path, apiServer: `${MACHINE}:${port}` }
}

/**
 * The tracker's kubeconfig with its cluster behind `proxy-url`: the API
 * server is named by a name only the proxy resolves (its certificate is
 * still checked, for `localhost`), so the tracker reaches it through the
 * proxy or not at all.
 */
const kubeconfigBehindProxy = (dir: string, proxyUrl: string): { path: string; apiServer: string } => {
  const original = readFileSync(inject("trackerKubeconfig"), "utf8")
  const match = /^(\s*)server: https:\/\/127\.0\.0\.1:(\d+)\s*$/m.exec(original)
  if (match === null) throw new Error("tracker kubeconfig: no https://127.0.0.1 server line")
  const [line, indent, port] = match
  const path = join(dir, "tracker-behind-proxy.kubeconfig")
  writeFileSync(
    path,
    original.replace(
      line,
      `${indent}server: https://${KUBE_API_NAME}:${port}\n${indent}tls-server-name: localhost\n${indent}proxy-url: ${proxyUrl}`
    ),
    { mode: 0o600 }
  )
  return { path, apiServer: `${KUBE_API_NAME}:${port}` }
}

let pki: Pki
let sim: GitHubSimulator
let simPort: number
let collector: Awaited<ReturnType<typeof startCollector>>
let proxy: ForwardProxy
/** Where this machine's name resolves: the simulator and the collector listen there. */
let address: string

beforeAll(async () => {
  address = (await lookup(MACHINE, { family: 4 })).address
  pki = makePki([GITHUB_NAME, COLLECTOR_NAME, MACHINE], address)
  sim = await startGitHubSimulator({
    host: address,
    tls: { key: pki.key, cert: pki.cert },
    tokens: [GITHUB_TOKEN],
    app: {
      id: Number(APP_ID),
      publicKey: appPublicKey.export({ type: "spki", format: "pem" }).toString(),
      installationIds: [INSTALLATION]
    }
  })
  simPort = sim.port
  collector = await startCollector(pki, address)
  proxy = await ForwardProxy.start(new Map([[GITHUB_NAME, address], [COLLECTOR_NAME, address], [KUBE_API_NAME, "127.0.0.1"]]))
})

afterAll(async () => {
  proxy?.stop()
  await new Promise<void>((resolve) => (collector === undefined ? resolve() : collector.server.close(() => resolve())))
  collector?.server.closeAllConnections()
  await sim?.close()
  if (pki !== undefined) rmSync(pki.dir, { recursive: true, force: true })
})

/** Starts the tracker for this scenario with its own kubeconfig and environment; stopped when the test ends. */
const startTracker = async (
  s: Scenario,
  namespace: string,
  options: { readonly githubUrl: string; readonly kubeconfig?: string; readonly env: Readonly<Record<string, string>> }
): Promise<TrackerProcess> => {
  const tracker = await TrackerProcess.start({
    kubeconfig: options.kubeconfig ?? inject("trackerKubeconfig"),
    githubUrl: options.githubUrl,
    org: s.org,
    cluster: s.cluster,
    logicalEnvironment: s.logicalEnvironment,
    logFile: join(inject("logDir"), `${s.org}-egress.log`),
    args: ["-namespace", namespace],
    env: options.env
  })
  onTestFinished(async () => {
    await tracker.stop("SIGTERM").catch(() => undefined)
    await tracker.close()
  })
  return tracker
}

/** Deploys one workload and waits until its record is in this file's simulator. */
const recordLands = async (s: Scenario, namespace: string, name: string) => {
  await apply(deployment(namespace, name, { replicas: 1, containers: [{ name: "app", image: `ghcr.io/octo-e2e/${name}:1` }] }))
  const expected = await runningDigests(namespace, name, `app=${name}`, { count: 1 })
  await eventually(`record of ${namespace}/${name} in the HTTPS simulator`, () => {
    const record = sim.records().find((r) => r.org === s.org && r.deployment_name === `${namespace}/${name}/app`)
    expect(record?.digest).toBe(expected.get(`${namespace}/${name}/app`))
  }, { deadlineMs: 60_000 })
}

describe("egress proxy and private CA", () => {
  it("through HTTPS_PROXY (with credentials): records, App token minting and trace exports all pass the proxy; the Kubernetes API does not", async () => {
    const s = useScenario("egress-proxy")
    const ns = await s.namespace("egress-proxy")
    const kubeconfig = kubeconfigByMachineName(pki.dir)
    const from = proxy.lines.length
    const tokensBefore = sim.installationTokens().length
    const tracker = await startTracker(s, ns, {
      githubUrl: `https://${GITHUB_NAME}:${simPort}`,
      kubeconfig: kubeconfig.path,
      env: {
        API_TOKEN: "",
        GH_APP_ID: APP_ID,
        GH_INSTALL_ID: String(INSTALLATION),
        GH_APP_PRIVATE_KEY: Buffer.from(appKey.export({ type: "pkcs1", format: "pem" }).toString()).toString("base64"),
        HTTPS_PROXY: proxy.url,
        SSL_CERT_FILE: pki.caFile,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `https://${COLLECTOR_NAME}:${collector.port}/v1/traces`
      }
    })

    // The App's token was minted at start, before any record: through the proxy (the name resolves nowhere else).
    expect(sim.installationTokens().length).toBeGreaterThan(tokensBefore)
    await recordLands(s, ns, "web")
    await eventually("a trace export reached the collector", () => expect(collector.exports()).toBeGreaterThan(0), {
      deadlineMs: 30_000
    })

    const connects = proxy.connects(from)
    expect(connects).toContain(`${GITHUB_NAME}:${simPort}`)
    expect(connects).toContain(`${COLLECTOR_NAME}:${collector.port}`)
    expect(connects).not.toContain(kubeconfig.apiServer)
    expect(new Set(connects)).toEqual(new Set([`${GITHUB_NAME}:${simPort}`, `${COLLECTOR_NAME}:${collector.port}`]))
    expect(proxy.established(from)).toBeGreaterThanOrEqual(2)
    expect(sim.violations()).toEqual([])
    expect(tracker.logsWith("GitHub requests go through a proxy", { proxy: `http://***@127.0.0.1:${proxy.port}` })).toHaveLength(1)
    expect(tracker.output()).not.toContain(PROXY_PASSWORD)
  })

  it("NO_PROXY names the GitHub host: the same requests go straight to it (trusted through NODE_EXTRA_CA_CERTS), none through the proxy", async () => {
    const s = useScenario("egress-noproxy")
    const ns = await s.namespace("egress-noproxy")
    const from = proxy.lines.length
    const tracker = await startTracker(s, ns, {
      githubUrl: `https://${MACHINE}:${simPort}`,
      env: { HTTPS_PROXY: proxy.url, NO_PROXY: `other.example,${MACHINE}`, NODE_EXTRA_CA_CERTS: pki.caFile }
    })
    await recordLands(s, ns, "api")
    expect(proxy.connects(from)).toEqual([])
    expect(tracker.logsWith("GitHub requests go through a proxy")).toEqual([])
    expect(sim.requests().filter((r) => r.path.startsWith(`/orgs/${s.org}/`)).length).toBeGreaterThan(0)
  })

  it("the kubeconfig's proxy-url (with credentials): the Kubernetes API connection goes through that proxy, GitHub's straight without HTTPS_PROXY", async () => {
    const s = useScenario("egress-kube-proxy")
    const ns = await s.namespace("egress-kube-proxy")
    const kubeconfig = kubeconfigBehindProxy(pki.dir, proxy.url)
    const from = proxy.lines.length
    const tracker = await startTracker(s, ns, {
      githubUrl: `https://${MACHINE}:${simPort}`,
      kubeconfig: kubeconfig.path,
      env: { NODE_EXTRA_CA_CERTS: pki.caFile }
    })
    // Synced and reporting: every list, watch and write reached the API server through the proxy.
    await recordLands(s, ns, "kube-proxied")
    const connects = proxy.connects(from)
    expect(connects).toContain(kubeconfig.apiServer)
    expect(new Set(connects)).toEqual(new Set([kubeconfig.apiServer]))
    expect(proxy.established(from)).toBeGreaterThanOrEqual(1)
    expect(tracker.logsWith("Kubernetes API requests go through a proxy", { proxy: `http://***@127.0.0.1:${proxy.port}` }))
      .toHaveLength(1)
    expect(tracker.logsWith("GitHub requests go through a proxy")).toEqual([])
    expect(tracker.output()).not.toContain(PROXY_PASSWORD)
  })

  it("without the test's CA the simulator's certificate is refused: nothing lands, and the log says why", async () => {
    const s = useScenario("egress-untrusted")
    const ns = await s.namespace("egress-untrusted")
    const tracker = await startTracker(s, ns, { githubUrl: `https://${MACHINE}:${simPort}`, env: {} })
    await apply(deployment(ns, "db", { replicas: 1, containers: [{ name: "app", image: "ghcr.io/octo-e2e/db:1" }] }))
    const failure = await eventually("a TLS failure in the log", () => {
      const line = tracker.logsWith("Posting a record failed; retrying")[0]
      expect(line).toBeDefined()
      return line!
    }, { deadlineMs: 60_000 })
    expect(String(failure.annotations["reason"])).toMatch(/certificate/i)
    // The record client's retry lines say which record (RecordSender annotates them).
    expect(failure.annotations["deployment_name"]).toBe(`${ns}/db/app`)
    expect(sim.records().filter((r) => r.org === s.org)).toEqual([])
  })
})
