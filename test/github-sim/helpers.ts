// Shared helpers for the simulator tests: request builders, digests, JWTs.
import { createHash, generateKeyPairSync, sign, type KeyObject } from "node:crypto"
import { request as httpRequest } from "node:http"
import type { GitHubSimulator } from "../../scripts/github-sim/simulator.ts"

export const TOKEN = "ghp_testtoken"
export const RECORD_PATH = "/orgs/acme/artifacts/metadata/deployment-record"
export const JOBS_PATH = "/orgs/acme/artifacts/metadata/deployment-record/cluster/prod-eu/jobs"

/** A well-formed digest derived from a seed. */
export const digest = (seed: string): string => `sha256:${createHash("sha256").update(seed).digest("hex")}`

export function recordBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "ghcr.io/acme/web",
    digest: digest("web"),
    version: "1.2.3",
    status: "deployed",
    logical_environment: "production",
    physical_environment: "eu-west-1",
    cluster: "prod-eu",
    deployment_name: "shop-web-app",
    tags: { team: "shop" },
    runtime_risks: ["internet-exposed"],
    return_records: true,
    ...overrides
  }
}

export function jobBody(deployments: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> {
  return { logical_environment: "production", physical_environment: "eu-west-1", deployments }
}

export const deployment = (name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: `ghcr.io/acme/${name}`,
  digest: digest(name),
  version: "1.0.0",
  status: "deployed",
  deployment_name: `shop-${name}-app`,
  ...overrides
})

export interface CallOptions {
  readonly body?: unknown
  readonly rawBody?: string
  readonly token?: string | null
  readonly headers?: Record<string, string | null>
  readonly signal?: AbortSignal
}

export interface CallResult {
  readonly status: number
  readonly headers: Headers
  readonly body: any
}

/** A request as a well-behaved client sends it; override or null out headers to misbehave. */
export async function call(sim: GitHubSimulator, method: string, path: string, options: CallOptions = {}): Promise<CallResult> {
  const headers: Record<string, string> = {
    "user-agent": "deployment-tracker-test",
    accept: "application/vnd.github+json",
    "x-github-api-version": "2022-11-28",
    "content-type": "application/json"
  }
  const token = options.token === undefined ? TOKEN : options.token
  if (token !== null) headers["authorization"] = `Bearer ${token}`
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === null) delete headers[name]
    else headers[name] = value
  }
  const response = await fetch(`${sim.url}${path}`, {
    method,
    headers,
    ...(options.rawBody !== undefined
      ? { body: options.rawBody }
      : options.body !== undefined
        ? { body: JSON.stringify(options.body) }
        : {}),
    ...(options.signal === undefined ? {} : { signal: options.signal })
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: text === "" ? undefined : JSON.parse(text) }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export function appKeys(): { privateKey: KeyObject; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
  return { privateKey, publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString() }
}

/** Signs a GitHub App JWT (RS256) with node:crypto, as a client library would. */
export function signJwt(privateKey: KeyObject, claims: Record<string, unknown>, alg = "RS256"): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url")
  const unsigned = `${encode({ alg, typ: "JWT" })}.${encode(claims)}`
  return `${unsigned}.${sign("sha256", Buffer.from(unsigned), privateKey).toString("base64url")}`
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

/** node:http, which unlike fetch adds no User-Agent of its own. */
export function rawRequest(
  url: string,
  options: { method: string; headers: Record<string, string>; body?: string }
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method, headers: options.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        resolve({ status: res.statusCode ?? 0, body: text === "" ? undefined : JSON.parse(text) })
      })
    })
    req.on("error", reject)
    req.end(options.body)
  })
}
