import { Effect } from "effect"
import type { DeploymentRecord } from "../record/DeploymentRecord.ts"
import { recordIdentity } from "../record/recordIdentity.ts"
import type { WorkloadOwner } from "../kube/ObjectIdentity.ts"

/**
 * What GitHub was last told, per record (deployment_name in its logical and
 * physical environment, see recordIdentity): the names currently reported
 * `deployed`, each with the record GitHub accepted, the workload key it
 * belongs to and the workload object it was found under. A name that is
 * decommissioned leaves the ledger.
 *
 * The reconcile loop compares a workload's desired records with its
 * entries here and sends only the difference (controller/planChanges.ts);
 * the deployed state persisted across restarts is this (src/state).
 * Callers change a name only while holding its lock (one post per name in
 * flight).
 */
export interface LedgerEntry {
  /** The workload key (`namespace/workload`) the name belongs to. */
  readonly key: string
  readonly owner: WorkloadOwner
  /** Status `deployed`. */
  readonly record: DeploymentRecord
  /** When GitHub accepted it (epoch millis). */
  readonly since: number
}

export class DeploymentLedger extends Effect.Service<DeploymentLedger>()("deployment-tracker/DeploymentLedger", {
  sync: () => {
    const byName = new Map<string, LedgerEntry>()
    const byKey = new Map<string, Map<string, LedgerEntry>>()
    let revision = 0

    const unlink = (name: string) => {
      const before = byName.get(name)
      if (before === undefined) return
      byName.delete(name)
      const names = byKey.get(before.key)
      names?.delete(name)
      if (names?.size === 0) byKey.delete(before.key)
    }

    return {
      get: (identity: string): LedgerEntry | undefined => byName.get(identity),
      /** The records reported under a workload key, by identity. */
      entriesOf: (key: string): ReadonlyMap<string, LedgerEntry> => byKey.get(key) ?? EMPTY,
      put: (entry: LedgerEntry): void => {
        const name = recordIdentity(entry.record)
        unlink(name)
        byName.set(name, entry)
        let names = byKey.get(entry.key)
        if (names === undefined) byKey.set(entry.key, names = new Map())
        names.set(name, entry)
        revision++
      },
      remove: (identity: string): void => {
        if (!byName.has(identity)) return
        unlink(identity)
        revision++
      },
      keys: (): IterableIterator<string> => byKey.keys(),
      entries: (): IterableIterator<LedgerEntry> => byName.values(),
      size: (): number => byName.size,
      /** Grows with every change: a cheap way to see whether anything changed. */
      revision: (): number => revision
    } as const
  }
}) {}

const EMPTY: ReadonlyMap<string, LedgerEntry> = new Map()
