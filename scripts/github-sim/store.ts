// Deployment records as GitHub keeps them: one record per (org, cluster,
// logical_environment, physical_environment, deployment_name); a later POST for
// the same key replaces the record's content (upsert).
import { createHash } from "node:crypto"

export type DeploymentStatus = "deployed" | "decommissioned"

/** What a client sends for one deployment (single POST body or one job item). */
export interface DeploymentInput {
  readonly name: string
  readonly digest: string
  readonly version?: string
  readonly status?: DeploymentStatus
  readonly deployment_name: string
  readonly github_repository?: string
  readonly tags?: Readonly<Record<string, string>>
  readonly runtime_risks?: ReadonlyArray<string>
}

export interface RecordKey {
  readonly org: string
  readonly cluster: string
  readonly logical_environment: string
  readonly physical_environment: string
  readonly deployment_name: string
}

/** Everything the simulator knows about a record (GET /_sim/records). */
export interface StoredRecord extends RecordKey {
  readonly id: number
  readonly name: string
  readonly digest: string
  readonly version: string | null
  readonly status: DeploymentStatus
  readonly github_repository: string | null
  readonly tags: Readonly<Record<string, string>>
  readonly runtime_risks: ReadonlyArray<string>
  readonly attestation_id: number | null
  readonly created_at: string
  readonly updated_at: string
  /** How many times a later write replaced this record (0 after the first). */
  readonly update_count: number
  /** Which endpoint wrote it last, and the job if it was a job. */
  readonly source: "create-record" | "create-job"
  readonly job_id: number | null
}

/** The record as the API returns it in `deployment_records`. */
export interface ApiRecord {
  readonly id: number
  readonly digest: string
  readonly logical_environment: string
  readonly physical_environment: string
  readonly cluster: string
  readonly deployment_name: string
  readonly tags: Readonly<Record<string, string>>
  readonly runtime_risks: ReadonlyArray<string>
  readonly created_at: string
  readonly updated_at: string
  readonly attestation_id: number | null
}

/** Which digests GitHub has a provenance attestation for. */
export class Attestations {
  readonly #unattested: Set<string>

  constructor(unattested: Iterable<string>) {
    this.#unattested = new Set([...unattested].map((d) => d.trim().toLowerCase()).filter((d) => d !== ""))
  }

  isAttested(digest: string): boolean {
    return !this.#unattested.has(digest.toLowerCase())
  }

  /** A stable fake attestation id per digest, or null when there is none. */
  attestationId(digest: string): number | null {
    return this.isAttested(digest) ? createHash("sha256").update(digest).digest().readUInt32BE(0) : null
  }

  /**
   * GitHub needs either an attestation or an explicit repository to link the
   * artifact; without both it answers 404 "no artifacts found".
   */
  resolves(input: { readonly digest: string; readonly github_repository?: string }): boolean {
    return this.isAttested(input.digest) || (input.github_repository ?? "") !== ""
  }
}

/** Reads an --unattested-digests file: one digest per line, `#` comments. */
export function parseDigestList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(/#.*$/, "").trim())
    .filter((line) => line !== "")
}

export class RecordStore {
  readonly #records = new Map<string, StoredRecord>()
  #nextId = 1

  upsert(
    key: RecordKey,
    input: DeploymentInput,
    write: { readonly nowMs: number; readonly attestationId: number | null; readonly source: StoredRecord["source"]; readonly jobId: number | null }
  ): StoredRecord {
    const id = keyOf(key)
    const previous = this.#records.get(id)
    const now = new Date(write.nowMs).toISOString()
    const record: StoredRecord = {
      id: previous?.id ?? this.#nextId++,
      org: key.org,
      cluster: key.cluster,
      logical_environment: key.logical_environment,
      physical_environment: key.physical_environment,
      deployment_name: key.deployment_name,
      name: input.name,
      digest: input.digest,
      version: input.version ?? null,
      status: input.status ?? "deployed",
      github_repository: input.github_repository ?? null,
      tags: { ...input.tags },
      runtime_risks: [...(input.runtime_risks ?? [])],
      attestation_id: write.attestationId,
      created_at: previous?.created_at ?? now,
      updated_at: now,
      update_count: previous === undefined ? 0 : previous.update_count + 1,
      source: write.source,
      job_id: write.jobId
    }
    this.#records.set(id, record)
    return record
  }

  list(): StoredRecord[] {
    return [...this.#records.values()].sort((a, b) => a.id - b.id)
  }

  clear(): void {
    this.#records.clear()
    this.#nextId = 1
  }
}

export function toApiRecord(record: StoredRecord): ApiRecord {
  return {
    id: record.id,
    digest: record.digest,
    logical_environment: record.logical_environment,
    physical_environment: record.physical_environment,
    cluster: record.cluster,
    deployment_name: record.deployment_name,
    tags: record.tags,
    runtime_risks: record.runtime_risks,
    created_at: record.created_at,
    updated_at: record.updated_at,
    attestation_id: record.attestation_id
  }
}

// Org names are case-insensitive on GitHub; the rest of the key is compared as sent.
function keyOf(key: RecordKey): string {
  return JSON.stringify([
    key.org.toLowerCase(),
    key.cluster,
    key.logical_environment,
    key.physical_environment,
    key.deployment_name
  ])
}
