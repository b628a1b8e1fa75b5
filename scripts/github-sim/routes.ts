// The four API routes: matching a path to an operation, and what each one
// does once the request has passed headers, faults, auth and validation.
import type { Credentials } from "./auth.ts"
import { jobView, type JobError, type JobRunner } from "./jobs.ts"
import { ROUTES, type Operation, type Problem, type RouteName } from "./openapi.ts"
import { toApiRecord, type Attestations, type DeploymentInput, type RecordStore, type StoredRecord } from "./store.ts"

export interface Reply {
  readonly status: number
  readonly body: unknown
}

export interface RouteState {
  readonly records: RecordStore
  readonly jobs: JobRunner
  readonly attestations: Attestations
  readonly credentials: Credentials
  readonly recordWritten: (record: StoredRecord) => void
}

export interface RouteRequest {
  readonly op: Operation
  readonly params: Readonly<Record<string, string>>
  readonly body: Record<string, unknown>
  readonly nowMs: number
  readonly failJob: boolean
}

export type RouteMatch =
  | { readonly kind: "route"; readonly route: RouteName; readonly params: Record<string, string> }
  | { readonly kind: "none" }

const COMPILED = ROUTES.map((route) => {
  const names: string[] = []
  const source = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    names.push(name)
    return "([^/]+)"
  })
  return { ...route, names, regex: new RegExp(`^${source}/?$`) }
})

/** Matches method and path; a known path with another method is "none", as GitHub answers 404. */
export function matchRoute(method: string, path: string): RouteMatch {
  for (const route of COMPILED) {
    const m = route.regex.exec(path)
    if (m === null || route.method !== method) continue
    const params: Record<string, string> = {}
    route.names.forEach((name, i) => {
      params[name] = safeDecode(m[i + 1] ?? "")
    })
    return { kind: "route", route: route.name, params }
  }
  return { kind: "none" }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

export function githubError(message: string, documentationUrl: string, status: number, extra: object = {}): Record<string, unknown> {
  return { message, documentation_url: documentationUrl, status: String(status), ...extra }
}

/** GitHub's 422 "Invalid request" body, with the problems also as Validation Error items. */
export function invalidRequest(op: Operation, problems: ReadonlyArray<Problem>): Reply {
  return {
    status: 422,
    body: githubError(`Invalid request.\n\n${problems.map((p) => p.message).join("\n")}`, op.documentationUrl, 422, {
      errors: problems.map((p) => ({
        resource: p.location === "path" ? "PathParameter" : "RequestBody",
        field: p.field,
        code: p.code,
        message: p.message,
        ...(typeof p.value === "string" || Number.isInteger(p.value) ? { value: p.value } : {})
      }))
    })
  }
}

export function handleRoute(state: RouteState, request: RouteRequest): Reply {
  switch (request.op.name) {
    case "create-record":
      return createRecord(state, request)
    case "create-job":
      return createJob(state, request)
    case "get-job":
      return getJob(state, request)
    case "create-token":
      return createToken(state, request)
  }
}

function createRecord(state: RouteState, { op, params, body, nowMs }: RouteRequest): Reply {
  const input = body as unknown as DeploymentInput & {
    logical_environment: string
    physical_environment?: string
    cluster?: string
    return_records?: boolean
  }
  if (!state.attestations.resolves(input)) {
    return { status: 404, body: githubError("no artifacts found", op.documentationUrl, 404) }
  }
  const record = state.records.upsert(
    {
      org: params["org"] ?? "",
      cluster: input.cluster ?? "",
      logical_environment: input.logical_environment,
      physical_environment: input.physical_environment ?? "",
      deployment_name: input.deployment_name
    },
    input,
    { nowMs, attestationId: state.attestations.attestationId(input.digest), source: "create-record", jobId: null }
  )
  state.recordWritten(record)
  return {
    status: 200,
    body: input.return_records === false ? { total_count: 1 } : { total_count: 1, deployment_records: [toApiRecord(record)] }
  }
}

function createJob(state: RouteState, { op, params, body, failJob }: RouteRequest): Reply {
  const org = params["org"] ?? ""
  const cluster = params["cluster"] ?? ""
  if (state.jobs.inProgress(org, cluster) !== undefined) {
    return { status: 409, body: githubError("A job is already in progress for this cluster.", op.documentationUrl, 409) }
  }
  const deployments = body["deployments"] as ReadonlyArray<DeploymentInput>
  const accepted: DeploymentInput[] = []
  const rejected: JobError[] = []
  for (const d of deployments) {
    if (state.attestations.resolves(d)) accepted.push(d)
    else rejected.push({ cause: "not_found", name: d.name, deployment_name: d.deployment_name, digest: d.digest, message: "no artifacts found" })
  }
  const logical = body["logical_environment"] as string
  const physical = (body["physical_environment"] as string | undefined) ?? ""
  const job = state.jobs.submit({
    org,
    cluster,
    logical_environment: logical,
    physical_environment: physical,
    deployments: accepted,
    rejected,
    fail: failJob
  })
  return { status: 202, body: rejected.length === 0 ? { job_id: job.job_id } : { job_id: job.job_id, errors: rejected } }
}

/** Writes a finished job's records; used by the JobRunner. */
export function applyJob(
  state: Pick<RouteState, "records" | "attestations" | "recordWritten">,
  job: { job_id: number; org: string; cluster: string; logical_environment: string; physical_environment: string; deployments: ReadonlyArray<DeploymentInput> },
  nowMs: number
): number {
  for (const d of job.deployments) {
    const record = state.records.upsert(
      {
        org: job.org,
        cluster: job.cluster,
        logical_environment: job.logical_environment,
        physical_environment: job.physical_environment,
        deployment_name: d.deployment_name
      },
      d,
      { nowMs, attestationId: state.attestations.attestationId(d.digest), source: "create-job", jobId: job.job_id }
    )
    state.recordWritten(record)
  }
  return job.deployments.length
}

function getJob(state: RouteState, { op, params }: RouteRequest): Reply {
  const job = state.jobs.get(params["org"] ?? "", params["cluster"] ?? "", Number(params["job_id"]))
  return job === undefined
    ? { status: 404, body: githubError("Not Found", op.documentationUrl, 404) }
    : { status: 200, body: jobView(job) }
}

function createToken(state: RouteState, { op, params, body, nowMs }: RouteRequest): Reply {
  const installationId = Number(params["installation_id"])
  if (!state.credentials.hasInstallation(installationId)) {
    return { status: 404, body: githubError("Not Found", op.documentationUrl, 404) }
  }
  const minted = state.credentials.mint(installationId, nowMs)
  const selected = body["repositories"] !== undefined || body["repository_ids"] !== undefined
  return {
    status: 201,
    body: {
      token: minted.token,
      // GitHub gives whole seconds: "2016-07-11T22:14:10Z".
      expires_at: new Date(minted.expiresAt).toISOString().replace(/\.\d{3}Z$/, "Z"),
      permissions: (body["permissions"] as object | undefined) ?? { artifact_metadata: "write", metadata: "read" },
      repository_selection: selected ? "selected" : "all"
    }
  }
}
