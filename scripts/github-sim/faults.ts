// Fault injection: a test says "for the next N matching requests" or "for the
// next T ms" respond with a 5xx, add latency, drop the connection, hang, rate
// limit, refuse a job, or let a job fail.
import { ROUTES, type RouteName } from "./openapi.ts"

export type FaultKind =
  | "status" // respond `status` (default 500) with `body` or a GitHub-style error
  | "latency" // delay the response by `latencyMs`, then carry on
  | "reset" // destroy the socket without responding
  | "hang" // never respond (until the client gives up or the simulator closes)
  | "rate-limit" // 403/429 with Retry-After and/or x-ratelimit-remaining: 0 + reset
  | "job-conflict" // job POST -> 409 "A job is already in progress for this cluster."
  | "job-not-found" // job POST -> 404 (as if the async endpoint did not exist)
  | "job-failure" // job POST accepted, the job ends `failed` without writing records

export interface FaultSpec {
  readonly kind: FaultKind
  /** Route name, or "*" for every API route. Default "*" ("create-job" for job-* kinds). */
  readonly route?: RouteName | "*"
  /** Only requests carrying this deployment_name (single body or any job item). */
  readonly deploymentName?: string
  /** Apply to the next `count` matching requests. */
  readonly count?: number
  /** Let the first `skip` matching requests through untouched. */
  readonly skip?: number
  /** Apply for this long from when the fault is set. Without count and durationMs: until cleared. */
  readonly durationMs?: number
  /** kind "status": the status (default 500); kind "rate-limit": 403 or 429 (default 429). */
  readonly status?: number
  /** kind "status": response body (default a GitHub error body). */
  readonly body?: unknown
  /** kind "latency": extra delay in ms. */
  readonly latencyMs?: number
  /** kind "rate-limit": send `Retry-After: N`. */
  readonly retryAfterSeconds?: number
  /** kind "rate-limit": send `x-ratelimit-remaining: 0` and a reset this many seconds ahead. */
  readonly resetAfterSeconds?: number
  /**
   * kind "rate-limit": send `x-ratelimit-remaining: 0` and a reset this many
   * seconds in the past (0: the current second), as GitHub can when the
   * client's clock runs ahead or the answer leaves in the reset second. The
   * time gives no wait, so the client must hold off for a minute (GitHub's
   * rule), or for `retryAfterSeconds` when that is set too.
   */
  readonly resetSecondsAgo?: number
  /** kind "rate-limit": word the message as a secondary limit (default: true unless only resetAfterSeconds is set). */
  readonly secondary?: boolean
}

export interface ActiveFault {
  readonly id: number
  readonly spec: FaultSpec
  readonly route: RouteName | "*"
  readonly until: number | undefined
  remaining: number | undefined
  skip: number
  hits: number
}

export interface FaultMatch {
  readonly latencyMs: number
  readonly failJob: boolean
  /** The fault that decides the response, if any. */
  readonly terminal: ActiveFault | undefined
  readonly applied: ReadonlyArray<ActiveFault>
}

const KINDS: ReadonlySet<string> = new Set<FaultKind>([
  "status",
  "latency",
  "reset",
  "hang",
  "rate-limit",
  "job-conflict",
  "job-not-found",
  "job-failure"
])
const ROUTE_NAMES: ReadonlySet<string> = new Set(["*", ...ROUTES.map((r) => r.name)])
const MODIFIERS: ReadonlySet<FaultKind> = new Set<FaultKind>(["latency", "job-failure"])

/** Checks a fault spec from JSON; throws an Error naming the bad field. */
export function parseFaultSpec(value: unknown): FaultSpec {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("a fault must be a JSON object")
  const spec = value as Record<string, unknown>
  const known = new Set([
    "kind", "route", "deploymentName", "count", "skip", "durationMs", "status", "body",
    "latencyMs", "retryAfterSeconds", "resetAfterSeconds", "resetSecondsAgo", "secondary"
  ])
  for (const key of Object.keys(spec)) if (!known.has(key)) throw new Error(`unknown fault field '${key}'`)
  if (typeof spec["kind"] !== "string" || !KINDS.has(spec["kind"])) {
    throw new Error(`fault kind must be one of ${[...KINDS].join(", ")}`)
  }
  if (spec["route"] !== undefined && (typeof spec["route"] !== "string" || !ROUTE_NAMES.has(spec["route"]))) {
    throw new Error(`fault route must be one of ${[...ROUTE_NAMES].join(", ")}`)
  }
  if (spec["deploymentName"] !== undefined && typeof spec["deploymentName"] !== "string") {
    throw new Error("fault deploymentName must be a string")
  }
  for (const field of ["count", "skip", "durationMs", "latencyMs", "retryAfterSeconds", "resetAfterSeconds", "resetSecondsAgo"]) {
    const n = spec[field]
    if (n !== undefined && (typeof n !== "number" || !Number.isFinite(n) || n < 0)) {
      throw new Error(`fault ${field} must be a non-negative number`)
    }
  }
  const status = spec["status"]
  if (status !== undefined && (!Number.isInteger(status) || (status as number) < 100 || (status as number) > 599)) {
    throw new Error("fault status must be an HTTP status code")
  }
  if (spec["kind"] === "rate-limit" && status !== undefined && status !== 403 && status !== 429) {
    throw new Error("a rate-limit fault responds 403 or 429")
  }
  if (spec["resetAfterSeconds"] !== undefined && spec["resetSecondsAgo"] !== undefined) {
    throw new Error("a rate-limit fault has resetAfterSeconds or resetSecondsAgo, not both")
  }
  if (spec["kind"] === "latency" && spec["latencyMs"] === undefined) throw new Error("a latency fault needs latencyMs")
  if (spec["secondary"] !== undefined && typeof spec["secondary"] !== "boolean") {
    throw new Error("fault secondary must be a boolean")
  }
  return spec as unknown as FaultSpec
}

export function parseFaultSpecs(value: unknown): FaultSpec[] {
  const list = Array.isArray(value)
    ? value
    : value !== null && typeof value === "object" && Array.isArray((value as { faults?: unknown }).faults)
      ? (value as { faults: unknown[] }).faults
      : [value]
  return list.map(parseFaultSpec)
}

export class FaultSet {
  #faults: ActiveFault[] = []
  #nextId = 1

  add(specs: ReadonlyArray<FaultSpec>, nowMs: number): ActiveFault[] {
    const added = specs.map((spec) => ({
      id: this.#nextId++,
      spec,
      route: spec.route ?? (spec.kind.startsWith("job-") ? "create-job" : "*"),
      until: spec.durationMs === undefined ? undefined : nowMs + spec.durationMs,
      remaining: spec.count,
      skip: spec.skip ?? 0,
      hits: 0
    }))
    this.#faults.push(...added)
    return added
  }

  clear(): void {
    this.#faults = []
  }

  list(nowMs: number): ActiveFault[] {
    return this.#faults.filter((f) => isLive(f, nowMs))
  }

  /**
   * Finds the faults for one request: every matching modifier (latency,
   * job failure) and the first matching terminal fault, consuming a use of each.
   */
  match(request: { route: RouteName; deploymentNames: ReadonlyArray<string> }, nowMs: number): FaultMatch {
    let latencyMs = 0
    let failJob = false
    let terminal: ActiveFault | undefined
    const applied: ActiveFault[] = []
    for (const fault of this.#faults) {
      if (!isLive(fault, nowMs)) continue
      if (fault.route !== "*" && fault.route !== request.route) continue
      if (fault.spec.deploymentName !== undefined && !request.deploymentNames.includes(fault.spec.deploymentName)) continue
      const modifier = MODIFIERS.has(fault.spec.kind)
      if (!modifier && terminal !== undefined) continue
      if (fault.skip > 0) {
        fault.skip--
        continue
      }
      if (fault.remaining !== undefined) fault.remaining--
      fault.hits++
      applied.push(fault)
      if (fault.spec.kind === "latency") latencyMs += fault.spec.latencyMs ?? 0
      else if (fault.spec.kind === "job-failure") failJob = true
      else terminal = fault
    }
    this.#faults = this.#faults.filter((f) => isLive(f, nowMs))
    return { latencyMs, failJob, terminal, applied }
  }
}

function isLive(fault: ActiveFault, nowMs: number): boolean {
  return (fault.remaining === undefined || fault.remaining > 0) && (fault.until === undefined || nowMs < fault.until)
}

/** A fault as listed by GET /_sim/faults. */
export function describeFault(fault: ActiveFault): Record<string, unknown> {
  return {
    id: fault.id,
    ...fault.spec,
    route: fault.route,
    remaining: fault.remaining ?? null,
    until: fault.until === undefined ? null : new Date(fault.until).toISOString(),
    hits: fault.hits
  }
}
