import type { DeploymentRecord, RecordStatus, RuntimeRisk } from "./DeploymentRecord.ts"

/**
 * The constraints GitHub's OpenAPI description puts on the body of
 * POST /orgs/{org}/artifacts/metadata/deployment-record. The original sends
 * whatever it built and lets the API reject it; checking first lets us say
 * which field is wrong and keeps a bad container from costing a request (and
 * a retry budget).
 *
 * Lengths are counted in Unicode code points, as JSON Schema's maxLength
 * defines them (and as the server's Ruby strings count), not in UTF-16 code
 * units: an emoji in a tag counts as one character, not two.
 */
export type ValidationResult =
  | { readonly ok: true; readonly record: DeploymentRecord; readonly adjustments: ReadonlyArray<string> }
  | { readonly ok: false; readonly field: string; readonly reason: string }

export const LIMITS = {
  name: { min: 1, max: 256 },
  version: { min: 1, max: 100 },
  logical_environment: { min: 1, max: 128 },
  physical_environment: { min: 0, max: 128 },
  cluster: { min: 0, max: 128 },
  deployment_name: { min: 1, max: 256 },
  github_repository: { min: 1, max: 100 },
  tags: { maxEntries: 5 },
  runtime_risks: { maxItems: 4 }
} as const

export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/
export const GITHUB_REPOSITORY_PATTERN = /^[A-Za-z0-9.\-_]+$/

const STATUSES: ReadonlySet<string> = new Set<RecordStatus>(["deployed", "decommissioned"])
const RUNTIME_RISKS: ReadonlySet<string> = new Set<RuntimeRisk>([
  "critical-resource",
  "internet-exposed",
  "lateral-movement",
  "sensitive-data"
])

const NO_ADJUSTMENTS: ReadonlyArray<string> = Object.freeze([])

/**
 * Length in code points. A string has at least as many UTF-16 units as
 * code points, so the count is only needed when `.length` exceeds the limit
 * being checked; callers use that to skip it in the common case.
 */
export const codePointLength = (value: string): number => {
  let count = 0
  for (let index = 0; index < value.length; index++) {
    const unit = value.charCodeAt(index)
    // A high surrogate followed by a low one is a single code point.
    if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < value.length) {
      const next = value.charCodeAt(index + 1)
      if (next >= 0xdc00 && next <= 0xdfff) index++
    }
    count++
  }
  return count
}

/** Why the length is out of range, or undefined when it is fine. */
const lengthProblem = (value: string, min: number, max: number): string | undefined => {
  if (value.length < min) return min === 1 ? "must not be empty" : `must be at least ${min} characters`
  if (value.length <= max) return undefined
  const length = codePointLength(value)
  return length <= max ? undefined : `must be at most ${max} characters, got ${length}`
}

const rejection = (field: string, reason: string): ValidationResult => ({ ok: false, field, reason })

/** Shows a bad value in a log line without flooding it. */
const preview = (value: string): string => JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)

const withoutVersion = (record: DeploymentRecord): DeploymentRecord => {
  const { version: _dropped, ...rest } = record
  return rest
}

export const validateRecord = (record: DeploymentRecord): ValidationResult => {
  let problem = lengthProblem(record.name, LIMITS.name.min, LIMITS.name.max)
  if (problem !== undefined) return rejection("name", problem)

  if (!DIGEST_PATTERN.test(record.digest)) {
    return rejection("digest", `must be sha256: followed by 64 lowercase hex digits, got ${preview(record.digest)}`)
  }

  if (!STATUSES.has(record.status)) {
    return rejection("status", `must be deployed or decommissioned, got ${preview(String(record.status))}`)
  }

  problem = lengthProblem(
    record.logical_environment,
    LIMITS.logical_environment.min,
    LIMITS.logical_environment.max
  )
  if (problem !== undefined) return rejection("logical_environment", problem)

  problem = lengthProblem(
    record.physical_environment,
    LIMITS.physical_environment.min,
    LIMITS.physical_environment.max
  )
  if (problem !== undefined) return rejection("physical_environment", problem)

  problem = lengthProblem(record.cluster, LIMITS.cluster.min, LIMITS.cluster.max)
  if (problem !== undefined) return rejection("cluster", problem)

  problem = lengthProblem(record.deployment_name, LIMITS.deployment_name.min, LIMITS.deployment_name.max)
  if (problem !== undefined) return rejection("deployment_name", problem)

  if (record.tags !== undefined) {
    const count = Object.keys(record.tags).length
    if (count > LIMITS.tags.maxEntries) {
      return rejection("tags", `must have at most ${LIMITS.tags.maxEntries} entries, got ${count}`)
    }
  }

  const risks = record.runtime_risks
  if (risks !== undefined) {
    if (risks.length > LIMITS.runtime_risks.maxItems) {
      return rejection(
        "runtime_risks",
        `must have at most ${LIMITS.runtime_risks.maxItems} items, got ${risks.length}`
      )
    }
    for (let index = 0; index < risks.length; index++) {
      const risk = risks[index] as string
      if (!RUNTIME_RISKS.has(risk)) return rejection("runtime_risks", `unknown risk ${preview(risk)}`)
      if (risks.indexOf(risk as RuntimeRisk) !== index) {
        return rejection("runtime_risks", `duplicate risk ${preview(risk)}`)
      }
    }
  }

  const repository = record.github_repository
  if (repository !== undefined) {
    problem = lengthProblem(repository, LIMITS.github_repository.min, LIMITS.github_repository.max)
    if (problem !== undefined) return rejection("github_repository", problem)
    if (!GITHUB_REPOSITORY_PATTERN.test(repository)) {
      return rejection(
        "github_repository",
        `must contain only letters, digits, '.', '-' and '_', got ${preview(repository)}`
      )
    }
  }

  // The version is informational; an over-long tag (some CI systems put a
  // whole build description in it) should not cost the record its deployment.
  const version = record.version
  if (version !== undefined) {
    problem = lengthProblem(version, LIMITS.version.min, LIMITS.version.max)
    if (problem !== undefined) {
      if (version.length > 0) {
        return {
          ok: true,
          record: withoutVersion(record),
          adjustments: [`version dropped: ${problem} (${preview(version)})`]
        }
      }
      return rejection("version", problem)
    }
  }

  return { ok: true, record, adjustments: NO_ADJUSTMENTS }
}
