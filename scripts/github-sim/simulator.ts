// A local stand-in for the GitHub REST API's artifact-metadata endpoints and
// installation-token minting. Every request is checked the way GitHub checks
// it (headers, auth, the OpenAPI request schema); anything a correct client
// would never do is recorded as a violation so a test can assert there were none.
import { randomUUID } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo } from "node:net"
import { Credentials, redactAuthorization, type AppOptions, type MintedToken } from "./auth.ts"
import { describeFault, FaultSet, parseFaultSpecs, type FaultSpec } from "./faults.ts"
import { jobView, JobRunner, type Job } from "./jobs.ts"
import { loadOperations, type Operation, type Problem, type RouteName } from "./openapi.ts"
import { preciseNow, rateLimitMessage, RateLimits, type ImposedLimit } from "./ratelimit.ts"
import { applyJob, githubError, handleRoute, invalidRequest, matchRoute, type RouteState } from "./routes.ts"
import { Attestations, RecordStore, type StoredRecord } from "./store.ts"

export type { AppOptions, MintedToken } from "./auth.ts"
export type { FaultKind, FaultSpec } from "./faults.ts"
export type { RouteName } from "./openapi.ts"
export type { StoredRecord } from "./store.ts"

export const KNOWN_API_VERSIONS: ReadonlyArray<string> = ["2022-11-28", "2026-03-10"]
export const RECOMMENDED_ACCEPT = "application/vnd.github+json"

export interface SimulatorOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Serve HTTPS with this PEM key and certificate (chain) instead of plain HTTP. */
  readonly tls?: { readonly key: string; readonly cert: string }
  /** Serve the API under a prefix such as "/api/v3" (GHES style). Default "". */
  readonly basePath?: string
  /** Personal access tokens accepted as `Bearer T` or `token T`. */
  readonly tokens?: ReadonlyArray<string>
  /** Digests without a provenance attestation; every other digest counts as attested. */
  readonly unattestedDigests?: Iterable<string>
  /** The GitHub App whose JWTs may mint installation tokens. */
  readonly app?: AppOptions
  /** Lifetime of minted installation tokens. Default 1 h. */
  readonly installationTokenTtlMs?: number
  /** Time a job spends pending, and then processing. Default 100 ms. */
  readonly jobDelayMs?: number
  /** Primary rate limit. Default 5,000 per hour. */
  readonly rateLimit?: { readonly limit?: number; readonly windowMs?: number }
  /** Slack when deciding that a request came before the advertised reset. Default 10 ms. */
  readonly rateLimitToleranceMs?: number
  /** Record body properties the schema does not define as violations. Default true. */
  readonly strictProperties?: boolean
  /** Check the simulator's own responses against the documented schemas. Default true. */
  readonly checkResponses?: boolean
  /** Receives one object per request, stored record, job change and violation. */
  readonly log?: (line: Record<string, unknown>) => void
}

export interface RequestEntry {
  readonly seq: number
  readonly time: string
  readonly method: string
  readonly path: string
  readonly route: RouteName | null
  /** HTTP status sent; null when the connection was reset, hung or aborted. */
  status: number | null
  outcome: "pending" | "response" | "reset" | "hang" | "aborted"
  /** The single record's deployment_name, or null. */
  readonly deployment_name: string | null
  /** Every deployment_name in the body (one for a single record, many for a job). */
  readonly deployment_names: ReadonlyArray<string>
  /** Request headers; Authorization keeps only its scheme. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
  /** Kinds of the faults applied to this request. */
  faults: string[]
  duration_ms: number | null
}

export type ViolationKind =
  | "schema" // body or path parameter breaks the OpenAPI schema (422)
  | "unknown-property" // body property the schema does not define (GitHub ignores it)
  | "bad-json" // body is not JSON or not an object (400)
  | "header" // User-Agent missing, Accept not recommended, unknown API version
  | "auth" // missing, bad or expired credentials, bad App JWT (401)
  | "route" // no such route (404)
  | "rate-limit" // request before the advertised rate-limit reset
  | "response-schema" // the simulator's own response broke the documented schema (a simulator bug)
  | "internal" // the simulator threw (a simulator bug)

export interface Violation {
  readonly seq: number
  readonly time: string
  readonly kind: ViolationKind
  readonly message: string
  readonly method: string
  readonly path: string
  readonly route: RouteName | null
  readonly request_seq: number | null
  readonly details: unknown
}

export interface GitHubSimulator {
  /** Base URL of the API, including basePath, e.g. http://127.0.0.1:PORT/api/v3 (https:// with `tls`) */
  readonly url: string
  /** http://127.0.0.1:PORT (https:// with `tls`), where /_sim/* lives. */
  readonly origin: string
  readonly port: number
  records(): StoredRecord[]
  requests(): RequestEntry[]
  violations(): Violation[]
  jobs(): Array<Record<string, unknown>>
  faults(): Array<Record<string, unknown>>
  /** Replaces the active faults. */
  setFaults(faults: FaultSpec | ReadonlyArray<FaultSpec>): void
  /** Adds to the active faults. */
  addFaults(faults: FaultSpec | ReadonlyArray<FaultSpec>): void
  clearFaults(): void
  /** Forgets records, jobs, requests, violations, faults and rate-limit state (not credentials or minted tokens). */
  reset(): void
  /** Installation tokens minted so far (fake values, safe to show), oldest first. */
  installationTokens(): MintedToken[]
  /** Revokes every installation token minted so far (as if each were deleted); returns how many were valid. */
  revokeInstallationTokens(): number
  close(): Promise<void>
}

type Outcome =
  | { readonly kind: "reply"; readonly status: number; readonly body: unknown; readonly headers: Record<string, string> }
  | { readonly kind: "reset" }
  | { readonly kind: "hang" }

const MAX_BODY_BYTES = 16 * 1024 * 1024
const GENERIC_DOCS = "https://docs.github.com/rest"
const USER_AGENT_MESSAGE =
  "Request forbidden by administrative rules. Please make sure your request has a User-Agent header " +
  "(https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). " +
  "Check https://developer.github.com for other possible causes."

export async function startGitHubSimulator(options: SimulatorOptions = {}): Promise<GitHubSimulator> {
  const operations = loadOperations()
  const basePath = (options.basePath ?? "").replace(/\/+$/, "")
  const log = options.log ?? (() => {})
  const checkResponses = options.checkResponses ?? true
  const strictProperties = options.strictProperties ?? true

  const records = new RecordStore()
  const attestations = new Attestations(options.unattestedDigests ?? [])
  const credentials = new Credentials({
    tokens: options.tokens ?? [],
    app: options.app,
    tokenTtlMs: options.installationTokenTtlMs ?? 60 * 60 * 1000
  })
  const faultSet = new FaultSet()
  const rateLimits = new RateLimits({
    limit: options.rateLimit?.limit ?? 5000,
    windowMs: options.rateLimit?.windowMs ?? 60 * 60 * 1000,
    toleranceMs: options.rateLimitToleranceMs ?? 10
  })
  let requestLog: RequestEntry[] = []
  let violationLog: Violation[] = []
  let requestSeq = 0
  let violationSeq = 0
  const hanging = new Set<ServerResponse>()

  const recordWritten = (record: StoredRecord): void => log({ event: "record", ...record })
  const jobs: JobRunner = new JobRunner({
    delayMs: options.jobDelayMs ?? 100,
    now: Date.now,
    apply: (job) => applyJob({ records, attestations, recordWritten }, job, Date.now()),
    onChange: (job: Job) => log({ event: "job", org: job.org, cluster: job.cluster, ...jobView(job) })
  })
  const state: RouteState = { records, jobs, attestations, credentials, recordWritten }

  function violate(
    kind: ViolationKind,
    message: string,
    at: { method: string; path: string; route: RouteName | null; seq: number | null },
    details: unknown = null
  ): void {
    const violation: Violation = {
      seq: ++violationSeq,
      time: new Date().toISOString(),
      kind,
      message,
      method: at.method,
      path: at.path,
      route: at.route,
      request_seq: at.seq,
      details
    }
    violationLog.push(violation)
    log({ event: "violation", ...violation })
  }

  // When each request arrived, to tell requests already in flight when a
  // limit was imposed from ones sent after it.
  const arrivals = new WeakMap<IncomingMessage, number>()

  async function processApi(
    req: IncomingMessage,
    entry: RequestEntry,
    op: Operation | undefined,
    params: Record<string, string>,
    parsed: ParsedBody
  ): Promise<Outcome> {
    const at = { method: entry.method, path: entry.path, route: entry.route, seq: entry.seq }
    const nowMs = Date.now()
    const docs = op?.documentationUrl ?? GENERIC_DOCS
    const reply = (status: number, body: unknown, headers = rateLimits.headers(Date.now())): Outcome => ({
      kind: "reply",
      status,
      body,
      headers
    })

    // Checks GitHub's edge makes before anything else.
    const userAgent = header(req, "user-agent")
    if (userAgent === undefined || userAgent.trim() === "") {
      violate("header", "request without a User-Agent header (GitHub answers 403)", at)
      return reply(403, githubError(USER_AGENT_MESSAGE, GENERIC_DOCS, 403))
    }
    const version = header(req, "x-github-api-version")
    if (version !== undefined && !KNOWN_API_VERSIONS.includes(version)) {
      violate("header", `X-GitHub-Api-Version '${version}' is not a supported version`, at)
      return reply(
        400,
        githubError(
          `Invalid API version provided: '${version}' is not a supported version. Supported versions: ${KNOWN_API_VERSIONS.join(", ")}.`,
          "https://docs.github.com/rest/about-the-rest-api/api-versions",
          400
        )
      )
    }
    const accept = header(req, "accept")
    if (!acceptsRecommended(accept)) {
      violate("header", `Accept is ${accept === undefined ? "missing" : `'${accept}'`}; use '${RECOMMENDED_ACCEPT}'`, at)
    }
    if (op === undefined) {
      violate("route", `no such route: ${entry.method} ${entry.path}`, at)
      return reply(404, githubError("Not Found", GENERIC_DOCS, 404))
    }

    // Rate limits: a request inside an advertised wait is the client's fault.
    const limit = rateLimits.activeLimit(nowMs)
    if (limit !== undefined) {
      if (!rateLimits.wasInFlight(limit, arrivals.get(req) ?? Number.POSITIVE_INFINITY)) {
        violate("rate-limit", `request before rate-limit reset (${limit.untilMs - nowMs} ms early)`, at, {
          until: new Date(limit.untilMs).toISOString()
        })
      }
      return reply(limit.status, { ...rateLimitMessage(limit), status: String(limit.status) }, rateLimits.limitedHeaders(limit, nowMs))
    }
    if (!rateLimits.consume(nowMs)) {
      const reset = rateLimits.windowReset(nowMs)
      const imposed: ImposedLimit = { status: 403, secondary: false, untilMs: reset * 1000, retryAfter: false, resetEpochSeconds: reset }
      rateLimits.impose(imposed, nowMs)
      return reply(403, { ...rateLimitMessage(imposed), status: "403" }, rateLimits.limitedHeaders(imposed, nowMs))
    }

    // Injected faults decide before auth and validation, as an outage would.
    const faults = faultSet.match({ route: op.name, deploymentNames: entry.deployment_names }, nowMs)
    entry.faults = faults.applied.map((f) => f.spec.kind)
    if (faults.latencyMs > 0) await sleep(faults.latencyMs)
    const fault = faults.terminal?.spec
    if (fault !== undefined) {
      switch (fault.kind) {
        case "reset":
          return { kind: "reset" }
        case "hang":
          return { kind: "hang" }
        case "status": {
          const status = fault.status ?? 500
          return reply(status, fault.body ?? githubError(status >= 500 ? "Server Error" : "Injected error", docs, status))
        }
        case "rate-limit": {
          const now = Date.now()
          const staleReset = fault.resetSecondsAgo !== undefined
          const resetEpochSeconds = staleReset
            ? Math.floor(now / 1000) - (fault.resetSecondsAgo ?? 0)
            : fault.resetAfterSeconds === undefined
            ? undefined
            : Math.ceil((now + fault.resetAfterSeconds * 1000) / 1000)
          const retryAfterSeconds =
            fault.retryAfterSeconds ?? (resetEpochSeconds === undefined ? 60 : undefined)
          // A reset that is not in the future gives no time: without
          // Retry-After, GitHub's rule is to wait at least a minute.
          const noTimeGiven = staleReset && retryAfterSeconds === undefined
          const imposed: ImposedLimit = {
            status: fault.status === 403 ? 403 : 429,
            secondary: fault.secondary ?? retryAfterSeconds !== undefined,
            untilMs: Math.max(
              retryAfterSeconds === undefined ? 0 : now + retryAfterSeconds * 1000,
              resetEpochSeconds === undefined ? 0 : resetEpochSeconds * 1000,
              noTimeGiven ? now + 60_000 : 0
            ),
            retryAfter: retryAfterSeconds !== undefined,
            resetEpochSeconds
          }
          rateLimits.impose(imposed, now)
          const headers = rateLimits.limitedHeaders(imposed, now)
          if (retryAfterSeconds !== undefined) headers["retry-after"] = String(retryAfterSeconds)
          return reply(imposed.status, { ...rateLimitMessage(imposed), status: String(imposed.status) }, headers)
        }
        case "job-conflict":
          return reply(409, githubError("A job is already in progress for this cluster.", docs, 409))
        case "job-not-found":
          return reply(404, githubError("Not Found", docs, 404))
        case "latency":
        case "job-failure":
          break
      }
    }

    if (!parsed.ok) {
      violate("bad-json", "request body is not valid JSON", at)
      return reply(400, githubError("Problems parsing JSON", docs, 400))
    }
    const body = parsed.value ?? {}
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      violate("bad-json", "request body is not a JSON object", at)
      return reply(400, githubError("Body should be a JSON object", docs, 400))
    }

    const authorization = header(req, "authorization")
    const auth =
      op.name === "create-token"
        ? credentials.authenticateApp(authorization, Date.now())
        : credentials.authenticateToken(authorization, Date.now())
    if (!auth.ok) {
      violate("auth", auth.message, at)
      return reply(401, githubError(auth.message, GENERIC_DOCS, 401))
    }

    const problems: Problem[] = [...op.validatePath(params), ...(op.hasBody ? op.validateBody(body) : [])]
    if (problems.length > 0) {
      violate("schema", problems.map((p) => p.message).join("\n"), at, problems)
      const invalid = invalidRequest(op, problems)
      return reply(invalid.status, invalid.body)
    }
    const unknown = op.hasBody ? op.unknownProperties(body) : []
    if (strictProperties && unknown.length > 0) {
      violate("unknown-property", unknown.map((p) => p.message).join("\n"), at, unknown)
    }

    const result = handleRoute(state, {
      op,
      params,
      body: body as Record<string, unknown>,
      nowMs: Date.now(),
      failJob: faults.failJob
    })
    if (checkResponses) {
      const wrong = op.validateResponse(result.status, result.body)
      if (wrong.length > 0) violate("response-schema", wrong.map((p) => p.message).join("\n"), at, wrong)
    }
    return reply(result.status, result.body)
  }

  function send(req: IncomingMessage, res: ServerResponse, entry: RequestEntry, outcome: Outcome, startedMs: number): void {
    if (res.destroyed || req.socket.destroyed) {
      entry.outcome = "aborted"
    } else if (outcome.kind === "reset") {
      entry.outcome = "reset"
      req.socket.destroy()
    } else if (outcome.kind === "hang") {
      entry.outcome = "hang"
      hanging.add(res)
      res.on("close", () => hanging.delete(res))
    } else {
      entry.status = outcome.status
      entry.outcome = "response"
      writeJson(res, outcome.status, outcome.body, {
        ...outcome.headers,
        "x-github-request-id": randomUUID().toUpperCase(),
        "x-github-api-version-selected": header(req, "x-github-api-version") ?? KNOWN_API_VERSIONS[0] ?? ""
      })
    }
    entry.duration_ms = Date.now() - startedMs
    log({ event: "request", ...entry })
  }

  async function onApiRequest(req: IncomingMessage, res: ServerResponse, pathname: string, text: string): Promise<void> {
    const startedMs = Date.now()
    const method = req.method ?? "GET"
    const apiPath = stripBasePath(pathname, basePath)
    const match = apiPath === undefined ? ({ kind: "none" } as const) : matchRoute(method, apiPath)
    const op = match.kind === "route" ? operations.get(match.route) : undefined
    const parsed = parseBody(text)
    const names = parsed.ok ? deploymentNamesOf(parsed.value) : { single: null, all: [] }
    const entry: RequestEntry = {
      seq: ++requestSeq,
      time: new Date(startedMs).toISOString(),
      method,
      path: req.url ?? pathname,
      route: op?.name ?? null,
      status: null,
      outcome: "pending",
      deployment_name: names.single,
      deployment_names: names.all,
      headers: loggedHeaders(req),
      body: parsed.ok ? parsed.value : text,
      faults: [],
      duration_ms: null
    }
    requestLog.push(entry)
    let outcome: Outcome
    try {
      outcome = await processApi(req, entry, op, match.kind === "route" ? match.params : {}, parsed)
    } catch (error) {
      violate("internal", `simulator error: ${String(error)}`, { method, path: entry.path, route: entry.route, seq: entry.seq })
      outcome = { kind: "reply", status: 500, body: githubError("Server Error", GENERIC_DOCS, 500), headers: {} }
    }
    send(req, res, entry, outcome, startedMs)
  }

  function onControlRequest(req: IncomingMessage, res: ServerResponse, pathname: string, text: string): void {
    const route = `${req.method ?? "GET"} ${pathname.replace(/\/+$/, "")}`
    switch (route) {
      case "GET /_sim/records":
        return writeJson(res, 200, records.list())
      case "GET /_sim/requests":
        return writeJson(res, 200, requestLog)
      case "GET /_sim/violations":
        return writeJson(res, 200, violationLog)
      case "GET /_sim/jobs":
        return writeJson(res, 200, listJobs())
      case "GET /_sim/faults":
        return writeJson(res, 200, listFaults())
      case "POST /_sim/faults": {
        try {
          const added = faultSet.add(parseFaultSpecs(JSON.parse(text)), Date.now())
          return writeJson(res, 201, added.map(describeFault))
        } catch (error) {
          return writeJson(res, 400, { message: error instanceof Error ? error.message : String(error) })
        }
      }
      case "DELETE /_sim/faults":
        faultSet.clear()
        return writeJson(res, 204, undefined)
      case "POST /_sim/reset":
        reset()
        return writeJson(res, 204, undefined)
      case "GET /_sim/installation-tokens":
        return writeJson(res, 200, credentials.minted())
      case "POST /_sim/installation-tokens/revoke":
        return writeJson(res, 200, { revoked: credentials.revokeAll(Date.now()) })
      default:
        return writeJson(res, 404, { message: `no simulator control route ${route}` })
    }
  }

  const listJobs = (): Array<Record<string, unknown>> =>
    jobs.list().map((job) => ({
      ...jobView(job),
      org: job.org,
      cluster: job.cluster,
      logical_environment: job.logical_environment,
      physical_environment: job.physical_environment,
      created_at: job.created_at,
      finished_at: job.finished_at ?? null,
      deployments: job.deployments,
      rejected: job.rejected
    }))
  const listFaults = (): Array<Record<string, unknown>> => faultSet.list(Date.now()).map(describeFault)

  function reset(): void {
    records.clear()
    jobs.clear()
    faultSet.clear()
    rateLimits.reset()
    requestLog = []
    violationLog = []
    for (const res of hanging) res.destroy()
    hanging.clear()
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    arrivals.set(req, preciseNow())
    readBody(req)
      .then((text) => {
        const pathname = new URL(req.url ?? "/", "http://simulator").pathname
        if (pathname === "/_sim" || pathname.startsWith("/_sim/")) onControlRequest(req, res, pathname, text)
        else return onApiRequest(req, res, pathname, text)
      })
      .catch((error: unknown) => {
        if (!res.headersSent && !res.destroyed) writeJson(res, 413, { message: String(error) })
      })
  }
  const server = options.tls === undefined
    ? createServer(onRequest)
    : createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, onRequest)

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address
  const origin = `${options.tls === undefined ? "http" : "https"}://${host}:${address.port}`
  const toList = (faults: FaultSpec | ReadonlyArray<FaultSpec>): FaultSpec[] => parseFaultSpecs(faults)

  return {
    url: `${origin}${basePath}`,
    origin,
    port: address.port,
    records: () => structuredClone(records.list()),
    requests: () => structuredClone(requestLog),
    violations: () => structuredClone(violationLog),
    jobs: () => structuredClone(listJobs()),
    faults: listFaults,
    setFaults: (faults) => {
      const list = toList(faults)
      faultSet.clear()
      faultSet.add(list, Date.now())
    },
    addFaults: (faults) => {
      faultSet.add(toList(faults), Date.now())
    },
    clearFaults: () => faultSet.clear(),
    reset,
    installationTokens: () => structuredClone(credentials.minted()),
    revokeInstallationTokens: () => credentials.revokeAll(Date.now()),
    close: () =>
      new Promise<void>((resolve, reject) => {
        jobs.clear()
        for (const res of hanging) res.destroy()
        server.close((error) => (error === undefined ? resolve() : reject(error)))
        server.closeAllConnections()
      })
  }
}

type ParsedBody = { readonly ok: true; readonly value: unknown } | { readonly ok: false }

function parseBody(text: string): ParsedBody {
  if (text.trim() === "") return { ok: true, value: undefined }
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch {
    return { ok: false }
  }
}

function deploymentNamesOf(body: unknown): { single: string | null; all: string[] } {
  if (body === null || typeof body !== "object") return { single: null, all: [] }
  const single = (body as { deployment_name?: unknown }).deployment_name
  if (typeof single === "string") return { single, all: [single] }
  const deployments = (body as { deployments?: unknown }).deployments
  if (!Array.isArray(deployments)) return { single: null, all: [] }
  const all = deployments
    .map((d: unknown) => (d !== null && typeof d === "object" ? (d as { deployment_name?: unknown }).deployment_name : undefined))
    .filter((n): n is string => typeof n === "string")
  return { single: null, all }
}

function stripBasePath(pathname: string, basePath: string): string | undefined {
  if (basePath === "") return pathname
  if (pathname === basePath) return "/"
  return pathname.startsWith(`${basePath}/`) ? pathname.slice(basePath.length) : undefined
}

function acceptsRecommended(accept: string | undefined): boolean {
  return (accept ?? "").split(",").some((part) => part.split(";")[0]?.trim().toLowerCase() === RECOMMENDED_ACCEPT)
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value.join(", ") : value
}

function loggedHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue
    const text = Array.isArray(value) ? value.join(", ") : value
    headers[name] = name === "authorization" ? redactAuthorization(text) : text
  }
  return headers
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        reject(new Error("request body too large"))
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })
}

function writeJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return
  if (status === 204 || body === undefined) {
    res.writeHead(status, headers)
    res.end()
    return
  }
  const text = JSON.stringify(body)
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text))
  })
  res.end(text)
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
