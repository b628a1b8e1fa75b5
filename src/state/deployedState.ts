import { createHash } from "node:crypto"
import { gunzipSync, gzipSync } from "node:zlib"
import { Either, ParseResult, Schema } from "effect"
import type { DeploymentRecord } from "../record/DeploymentRecord.ts"

/**
 * The persisted form of what a tracker believes is deployed: for each
 * deployment_name it reported `deployed` (and has not decommissioned), the
 * workload it belongs to and the record it sent. Kept in a ConfigMap key of
 * its own per (org, cluster, logical environment), so trackers of other
 * clusters that share the namespace by accident keep their own keys, and a
 * document of another scope found under ours is refused, never acted on.
 *
 * Pure: encoding with a byte budget, decoding with a reason for refusal.
 */

/** Whose names these are: a tracker acts only on its own. */
export interface StateScope {
  readonly org: string
  readonly cluster: string
  readonly logicalEnvironment: string
}

/** The workload a name belongs to, with what `isActive` needs to ask the API about it. */
export interface RememberedOwner {
  readonly kind: string
  readonly apiVersion: string
  readonly namespace: string
  readonly name: string
  readonly uid: string
}

/** One deployed name: its owner, the record reported for it, and since when (epoch millis). */
export interface RememberedName {
  readonly owner: RememberedOwner
  /** The workload name (`{{deploymentName}}`) when it is not the owner's (a ReplicaSet named after its unreadable owner). */
  readonly workload?: string
  readonly record: DeploymentRecord
  readonly since: number
}

export const STATE_FORMAT_VERSION = 1

/**
 * The ConfigMap limit is 1 MiB for all keys and values together; the rest
 * of this budget covers key names and the document's own framing.
 */
export const CONFIGMAP_DATA_LIMIT_BYTES = 1_048_576
export const CONFIGMAP_MARGIN_BYTES = 4096

const RuntimeRisk = Schema.Literal("critical-resource", "internet-exposed", "lateral-movement", "sensitive-data")

/**
 * A record as stored: the status is implied (every stored name is
 * deployed), the cluster is the document's scope, and so is the logical
 * environment unless a Namespace's annotation gave the record another.
 */
const StoredRecord = Schema.Struct({
  name: Schema.String,
  logical_environment: Schema.optionalWith(Schema.String, { exact: true }),
  digest: Schema.String,
  version: Schema.optionalWith(Schema.String, { exact: true }),
  physical_environment: Schema.String,
  deployment_name: Schema.String,
  runtime_risks: Schema.optionalWith(Schema.Array(RuntimeRisk), { exact: true }),
  tags: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { exact: true }),
  github_repository: Schema.optionalWith(Schema.String, { exact: true })
})

const StoredName = Schema.Struct({
  owner: Schema.Struct({
    kind: Schema.String,
    apiVersion: Schema.String,
    namespace: Schema.String,
    name: Schema.String,
    uid: Schema.String
  }),
  workload: Schema.optionalWith(Schema.String, { exact: true }),
  since: Schema.Number,
  record: StoredRecord
})

const StateDocument = Schema.Struct({
  version: Schema.Literal(STATE_FORMAT_VERSION),
  org: Schema.String,
  cluster: Schema.String,
  logicalEnvironment: Schema.String,
  names: Schema.Array(StoredName)
})

const decodeDocument = Schema.decodeUnknownEither(StateDocument)

/**
 * The ConfigMap key of a scope. ConfigMap keys allow only `[-._a-zA-Z0-9]`
 * and cluster or environment names may hold anything, hence a hash; the
 * document itself names its scope in clear.
 */
export const stateKey = (scope: StateScope): string => {
  const hash = createHash("sha256").update(`${scope.org}\n${scope.cluster}\n${scope.logicalEnvironment}`).digest("hex")
  return `deployed-${hash.slice(0, 16)}.json.gz.b64`
}

/**
 * The stored value is the JSON document, gzip-compressed and base64-encoded
 * behind this prefix: about 100 bytes a name instead of about 400, so some
 * 10,000 names fit in one ConfigMap. Plain JSON is still read.
 */
export const COMPRESSED_PREFIX = "gzip+base64:"

// zlib's default level: a few tens of milliseconds for a full ConfigMap, written at most every 10 s.
const compress = (json: string): string => `${COMPRESSED_PREFIX}${gzipSync(json).toString("base64")}`

/** The JSON text of a stored value, or why it cannot be had. */
const inflate = (text: string): Either.Either<string, StateRefusal> => {
  if (!text.startsWith(COMPRESSED_PREFIX)) return Either.right(text)
  try {
    return Either.right(gunzipSync(Buffer.from(text.slice(COMPRESSED_PREFIX.length), "base64")).toString("utf8"))
  } catch (error) {
    return Either.left({ _tag: "Unreadable", reason: `compressed state does not inflate: ${error instanceof Error ? error.message : String(error)}` })
  }
}

/** Why a stored document was not used: unreadable (not JSON, wrong shape) or another tracker's. */
export type StateRefusal =
  | { readonly _tag: "Unreadable"; readonly reason: string }
  | { readonly _tag: "Foreign"; readonly reason: string }

/** The remembered names of `text`, or why they cannot be used by the tracker of `scope`. */
export const decodeState = (scope: StateScope, stored: string): Either.Either<ReadonlyArray<RememberedName>, StateRefusal> => {
  const inflated = inflate(stored)
  if (Either.isLeft(inflated)) return Either.left(inflated.left)
  const text = inflated.right
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return Either.left({ _tag: "Unreadable", reason: `not JSON: ${error instanceof Error ? error.message : String(error)}` })
  }
  return decodeDocument(json, { errors: "first" }).pipe(
    Either.mapLeft((error): StateRefusal => ({
      _tag: "Unreadable",
      reason: ParseResult.TreeFormatter.formatErrorSync(error).split("\n").slice(0, 4).join(" ")
    })),
    Either.flatMap((document) => {
      const theirs = { org: document.org, cluster: document.cluster, logicalEnvironment: document.logicalEnvironment }
      if (theirs.org !== scope.org || theirs.cluster !== scope.cluster || theirs.logicalEnvironment !== scope.logicalEnvironment) {
        return Either.left<StateRefusal>({
          _tag: "Foreign",
          reason: `written for org ${theirs.org}, cluster ${theirs.cluster}, logical environment ${theirs.logicalEnvironment}`
        })
      }
      return Either.right(document.names.map((stored): RememberedName => ({
        owner: stored.owner,
        ...(stored.workload !== undefined ? { workload: stored.workload } : {}),
        since: stored.since,
        record: {
          ...stored.record,
          status: "deployed",
          logical_environment: stored.record.logical_environment ?? document.logicalEnvironment,
          cluster: document.cluster
        }
      })))
    })
  )
}

export interface EncodedState {
  readonly text: string
  /** Names left out to stay within the budget (the oldest). */
  readonly dropped: number
}

const storedForm = (scope: StateScope) => (remembered: RememberedName) => {
  const { cluster: _cluster, logical_environment: environment, status: _status, ...rest } = remembered.record
  const record = environment === scope.logicalEnvironment ? rest : { ...rest, logical_environment: environment }
  return {
    owner: remembered.owner,
    ...(remembered.workload !== undefined ? { workload: remembered.workload } : {}),
    since: remembered.since,
    record
  }
}

const utf8Bytes = (text: string) => Buffer.byteLength(text, "utf8")

/**
 * By deployment_name in code-unit order: the same in every locale (the
 * value must not change with the process's language), and it does not
 * load ICU's collation data (some 2 MiB of the process's memory).
 */
const byName = (a: { readonly record: { readonly deployment_name: string } }, b: typeof a): number =>
  a.record.deployment_name < b.record.deployment_name ? -1 : a.record.deployment_name > b.record.deployment_name ? 1 : 0

/**
 * The stored value for `names`, at most `budgetBytes` long: the newest names
 * are kept, the oldest dropped when they do not all fit. Compressed sizes do
 * not add up per name, so the count is estimated from the full value and
 * lowered by 3 % steps until it fits (close to, not exactly, the most that
 * would fit). Sorted by deployment_name, so the same names always give the
 * same value (and an unchanged state needs no write).
 */
export const encodeState = (scope: StateScope, names: ReadonlyArray<RememberedName>, budgetBytes: number): EncodedState => {
  const newestFirst = [...names]
    .sort((a, b) => b.since - a.since || byName(a, b))
    .map(storedForm(scope))
  const valueOf = (count: number) =>
    compress(JSON.stringify({
      version: STATE_FORMAT_VERSION,
      org: scope.org,
      cluster: scope.cluster,
      logicalEnvironment: scope.logicalEnvironment,
      names: newestFirst.slice(0, count).sort(byName)
    }))
  let value = valueOf(newestFirst.length)
  if (utf8Bytes(value) <= budgetBytes) return { text: value, dropped: 0 }
  let count = Math.floor((newestFirst.length * budgetBytes) / utf8Bytes(value))
  value = valueOf(count)
  while (count > 0 && utf8Bytes(value) > budgetBytes) {
    count = Math.min(count - 1, Math.floor(count * 0.97))
    value = valueOf(count)
  }
  return { text: value, dropped: newestFirst.length - count }
}

/** What our key may use, given the other keys already in the ConfigMap. */
export const budgetFor = (ownKey: string, data: Readonly<Record<string, string>>): number => {
  let others = 0
  for (const [key, value] of Object.entries(data)) {
    if (key !== ownKey) others += utf8Bytes(key) + utf8Bytes(value)
  }
  return CONFIGMAP_DATA_LIMIT_BYTES - CONFIGMAP_MARGIN_BYTES - utf8Bytes(ownKey) - others
}
