import type { RuntimeRisk } from "../record/DeploymentRecord.ts"
import { codePointLength, GITHUB_REPOSITORY_PATTERN, LIMITS } from "../record/validateRecord.ts"

/**
 * The `metadata.github.com/*` annotation rules: runtime risks, custom tags
 * and the GitHub repository of a deployment record, read from the pod and
 * every owner up its chain.
 *
 * An invalid value never costs the record: it is left out and reported in
 * `dropped`, so the caller can log it and count it, and the record is sent
 * without it. Everything passed on here also passes `validateRecord`, so a
 * bad annotation cannot get the whole record rejected there.
 *
 * Lengths are counted in code points (as the original counts runes and as
 * JSON Schema's maxLength counts), not UTF-16 units.
 */

export const ANNOTATION_PREFIX = "metadata.github.com/"
export const RUNTIME_RISKS_KEY = `${ANNOTATION_PREFIX}runtime-risks`
export const GITHUB_REPOSITORY_KEY = `${ANNOTATION_PREFIX}github-repository`

/** The API allows at most 5 tags per record (`tags` maxProperties). */
export const MAX_TAGS: number = LIMITS.tags.maxEntries
/** The original's limit on a tag's key and on its value; the API sets none. */
export const MAX_TAG_LENGTH = 100

/** The API's `runtime_risks` enum, in sorted order. */
export const RUNTIME_RISKS: ReadonlyArray<RuntimeRisk> = [
  "critical-resource",
  "internet-exposed",
  "lateral-movement",
  "sensitive-data"
]

/** One object's annotations; undefined when it has none (or was not found). */
export type AnnotationMap = Readonly<Record<string, string>> | undefined

/** The pod's annotations first, then each owner's, closest to the pod first. */
export type AnnotationChain = ReadonlyArray<AnnotationMap>

export interface DroppedAnnotation {
  /** The full annotation key, as written in the manifest. */
  readonly key: string
  readonly reason: string
}

export interface AnnotationMetadata {
  /** Union over the chain, unique, sorted. */
  readonly runtimeRisks: ReadonlyArray<RuntimeRisk>
  /** Keys without the prefix; at most MAX_TAGS. */
  readonly tags: Readonly<Record<string, string>>
  readonly githubRepository: string | undefined
  /** Invalid values left out, one entry per value, for the log and a metric. */
  readonly dropped: ReadonlyArray<DroppedAnnotation>
}

const KNOWN_RISKS: ReadonlySet<string> = new Set(RUNTIME_RISKS)

const isRuntimeRisk = (value: string): value is RuntimeRisk => KNOWN_RISKS.has(value)

/** Shows a bad value in a log line without flooding it. */
const preview = (value: string): string => JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)

/** Code-unit order; annotation keys are ASCII, so this is also byte order (Go's sort). */
const byKey = (left: readonly [string, string], right: readonly [string, string]): number =>
  left[0] < right[0] ? -1 : left[0] > right[0] ? 1 : 0

/**
 * Parses one `runtime-risks` value: a comma list, each item trimmed and
 * lowercased. Empty items (a trailing comma, an empty annotation) are not
 * errors; unknown ones are returned as written (trimmed) for the report.
 */
export const parseRuntimeRisks = (
  value: string
): { readonly risks: ReadonlyArray<RuntimeRisk>; readonly unknown: ReadonlyArray<string> } => {
  const risks: Array<RuntimeRisk> = []
  const unknown: Array<string> = []
  for (const item of value.split(",")) {
    const trimmed = item.trim()
    if (trimmed === "") continue
    const lowered = trimmed.toLowerCase()
    if (isRuntimeRisk(lowered)) risks.push(lowered)
    else unknown.push(trimmed)
  }
  return { risks, unknown }
}

/**
 * Why a `github-repository` value cannot be sent, or undefined when it can.
 * Same limits as `validateRecord` (1..100, `^[A-Za-z0-9.\-_]+$`): the API
 * wants the repository name alone, the owner being the org in the path.
 */
const repositoryProblem = (value: string): string | undefined => {
  const { min, max } = LIMITS.github_repository
  if (value.length < min) return "github repository must not be empty"
  const length = value.length > max ? codePointLength(value) : value.length
  if (length > max) return `github repository must be at most ${max} characters, got ${length}`
  if (!GITHUB_REPOSITORY_PATTERN.test(value)) {
    const hint = value.includes("/") ? " (the repository name only, without the owner)" : ""
    return `github repository must contain only letters, digits, '.', '-' and '_'${hint}, got ${preview(value)}`
  }
  return undefined
}

/** Why a tag cannot be sent, or undefined when it can. */
const tagProblem = (tagKey: string, value: string): string | undefined => {
  if (tagKey === "") return "empty tag key"
  const keyLength = codePointLength(tagKey)
  if (keyLength > MAX_TAG_LENGTH) return `tag key is ${keyLength} characters, more than ${MAX_TAG_LENGTH}`
  const valueLength = codePointLength(value)
  // The value itself is not shown: an over-long value may be anything.
  if (valueLength > MAX_TAG_LENGTH) return `tag value is ${valueLength} characters, more than ${MAX_TAG_LENGTH}`
  return undefined
}

/**
 * Aggregates the annotations of a pod and its owners into the record's
 * runtime risks, tags and repository.
 *
 * - Runtime risks: the union over the chain, sorted and unique.
 * - Tags: every other key under the prefix. Objects are read closest first
 *   and, within one object, in sorted key order, so a closer object's value
 *   wins and, past MAX_TAGS, the same tags are kept on every run (closer
 *   objects' tags before farther ones', as the original does). An invalid
 *   tag does not take a slot and does not hide a farther valid value.
 * - Repository: the closest valid value; an invalid one is reported and the
 *   next one up the chain is used.
 *
 * Every invalid value anywhere in the chain is reported, even when a closer
 * value makes it irrelevant: it is still a mistake in a manifest. Keys outside
 * the prefix are ignored (owners' annotations are not pre-filtered).
 */
export const aggregateAnnotations = (chain: AnnotationChain): AnnotationMetadata => {
  const risks = new Set<RuntimeRisk>()
  // A Map, not an object: a tag named "constructor" or "toString" must not
  // look already taken, and "__proto__" must stay a plain key.
  const tags = new Map<string, string>()
  let githubRepository: string | undefined
  const dropped: Array<DroppedAnnotation> = []

  for (const annotations of chain) {
    if (annotations === undefined) continue
    const entries = Object.entries(annotations)
      .filter(([key]) => key.startsWith(ANNOTATION_PREFIX))
      .sort(byKey)

    for (const [key, value] of entries) {
      if (key === RUNTIME_RISKS_KEY) {
        const parsed = parseRuntimeRisks(value)
        for (const risk of parsed.risks) risks.add(risk)
        for (const item of parsed.unknown) dropped.push({ key, reason: `unknown runtime risk ${preview(item)}` })
        continue
      }

      if (key === GITHUB_REPOSITORY_KEY) {
        // Trimmed: a YAML block scalar leaves a trailing newline, which the
        // pattern would reject for no useful reason.
        const repository = value.trim()
        const problem = repositoryProblem(repository)
        if (problem !== undefined) dropped.push({ key, reason: problem })
        else if (githubRepository === undefined) githubRepository = repository
        continue
      }

      const tagKey = key.slice(ANNOTATION_PREFIX.length)
      const problem = tagProblem(tagKey, value)
      if (problem !== undefined) {
        dropped.push({ key, reason: problem })
        continue
      }
      // Set by a closer object: that value wins, quietly.
      if (tags.has(tagKey)) continue
      if (tags.size >= MAX_TAGS) {
        dropped.push({ key, reason: `tag limit of ${MAX_TAGS} reached` })
        continue
      }
      tags.set(tagKey, value)
    }
  }

  return {
    runtimeRisks: [...risks].sort(),
    // fromEntries defines own properties, so "__proto__" survives as a key.
    tags: Object.fromEntries(tags),
    githubRepository,
    dropped
  }
}
