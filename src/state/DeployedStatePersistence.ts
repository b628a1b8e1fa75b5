import { Duration, Effect, Either, Option, Schedule } from "effect"
import { Config } from "../config/Config.ts"
import { DeploymentLedger, type LedgerEntry } from "../ledger/DeploymentLedger.ts"
import { Metrics } from "../observability/Metrics.ts"
import { recordIdentity } from "../record/recordIdentity.ts"
import { parseWorkloadKey, workloadKey } from "../workload/Attribution.ts"
import { budgetFor, decodeState, encodeState, type RememberedName, stateKey, type StateScope } from "./deployedState.ts"
import type { VersionedObjectError } from "../kube/VersionedObject.ts"
import { isForbidden, makeStateConfigMap, type StateConfigMap } from "./StateConfigMap.ts"

/** How often the writer looks for changes. */
export const CHANGE_CHECK_INTERVAL = Duration.seconds(1)
/** At most one write per this interval: the ConfigMap is rewritten whole each time. */
export const MIN_SAVE_INTERVAL = Duration.seconds(10)
/** The final write on shutdown must not hold the exit up for long. */
export const FINAL_SAVE_TIMEOUT = Duration.seconds(5)

/** Reading the state at start: a few quick tries, then the tracker runs without persistence. */
export const LOAD_RETRY = Schedule.exponential("500 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(3)))

/** A ledger entry as stored: the workload name only when it is not the owner's. */
const remembered = (entry: LedgerEntry): RememberedName => {
  const { workloadName } = parseWorkloadKey(entry.key)
  return {
    owner: entry.owner,
    ...(workloadName !== entry.owner.name ? { workload: workloadName } : {}),
    record: entry.record,
    since: entry.since
  }
}

const ledgerEntry = (name: RememberedName): LedgerEntry => ({
  key: workloadKey(name.owner.namespace, name.workload ?? name.owner.name),
  owner: name.owner,
  record: name.record,
  since: name.since
})

/**
 * Keeps the ledger (what GitHub was told is deployed) in a ConfigMap, so
 * that a workload deleted while no tracker ran is still decommissioned:
 *
 * - at start (`restore`, before the workers start) the remembered names go
 *   back into the ledger; the first reconcile of each key then finds a gone
 *   workload's names reported and decommissions them;
 * - afterwards the ledger is written when it changed, at most every 10 s,
 *   and once more on shutdown after the work queue drained.
 *
 * Only the process running the controller writes (with leader election, the
 * leader). A forbidden read or write (RBAC without the ConfigMap Role) is
 * one warning, then the tracker runs without persistence; it never stops or
 * delays the controller beyond the first read. With `-dry-run` the state is
 * read but never written (it would claim names that were never reported).
 */
export class DeployedStatePersistence extends Effect.Service<DeployedStatePersistence>()(
  "deployment-tracker/DeployedStatePersistence",
  {
    scoped: Effect.gen(function*() {
      const config = yield* Config
      const metrics = yield* Metrics
      const ledger = yield* DeploymentLedger
      const scope = yield* Effect.scope
      const settings = config.deployedState
      const stateScope: StateScope = { org: config.org, cluster: config.cluster, logicalEnvironment: config.logicalEnvironment }
      const key = stateKey(stateScope)
      const configMap = Option.isSome(settings)
        ? Option.some(yield* makeStateConfigMap({ name: settings.value.configMapName, namespace: settings.value.namespace }))
        : Option.none<StateConfigMap>()

      // Set once `restore` ran; the writer and the final save work from it.
      let active: { readonly store: StateConfigMap } | undefined
      let savedRevision = -1
      let savedText = ""
      let warnedDropped = false

      const describe = Option.match(settings, {
        onNone: () => ({}),
        onSome: (s) => ({ configmap: `${s.namespace}/${s.configMapName}`, key })
      })

      const forbiddenWarning = (e: VersionedObjectError) =>
        Effect.logWarning(
          "The state ConfigMap is forbidden to this service account; running without persistence: a workload deleted while no tracker runs will not be decommissioned. Grant get, create and update on configmaps in this namespace (see the README's Permissions)"
        ).pipe(Effect.annotateLogs({ operation: e.operation, error: e.message }))

      /** Writes the deployed names unless nothing changed since the last write. */
      const save = Effect.gen(function*() {
        if (active === undefined) return
        const { store } = active
        const revision = ledger.revision()
        if (revision === savedRevision) return
        const deployed = Array.from(ledger.entries(), remembered)
        let encoded = encodeState(stateScope, deployed, Number.MAX_SAFE_INTEGER)
        if (encoded.text === savedText) {
          savedRevision = revision
          return
        }
        const written = yield* store.writeKey(key, (current) => {
          encoded = encodeState(stateScope, deployed, budgetFor(key, current))
          return encoded.text
        }).pipe(
          Effect.as(true),
          Effect.catchTag("VersionedObjectError", (error) => {
            if (isForbidden(error)) {
              metrics.stateOperation("save", "forbidden")
              active = undefined
              return forbiddenWarning(error).pipe(Effect.as(false))
            }
            metrics.stateOperation("save", "failed")
            return Effect.logWarning("Could not write the state ConfigMap; will try again").pipe(
              Effect.annotateLogs({ operation: error.operation, status: error.status, error: error.message }),
              Effect.as(false)
            )
          })
        )
        if (!written) return
        metrics.stateOperation("save", "ok")
        metrics.stateNamesDropped.set(encoded.dropped)
        savedRevision = revision
        savedText = encoded.text
        if (encoded.dropped > 0 && !warnedDropped) {
          warnedDropped = true
          yield* Effect.logWarning(
            "The deployed names do not all fit in the state ConfigMap (1 MiB); the oldest are left out and will not be decommissioned if their workload is deleted while no tracker runs"
          ).pipe(Effect.annotateLogs({ kept: deployed.length - encoded.dropped, dropped: encoded.dropped }))
        }
        yield* Effect.logDebug("State written").pipe(Effect.annotateLogs({ names: deployed.length - encoded.dropped }))
      }).pipe(Effect.annotateLogs(describe))

      const writer = Effect.gen(function*() {
        while (active !== undefined) {
          yield* Effect.sleep(CHANGE_CHECK_INTERVAL)
          if (active === undefined || ledger.revision() === savedRevision) continue
          yield* save
          yield* Effect.sleep(Duration.subtract(MIN_SAVE_INTERVAL, CHANGE_CHECK_INTERVAL))
        }
      })

      // Runs when the controller layer stops, after its own finalizer drained
      // the work queue (this service was built before it, so it closes after).
      yield* Effect.addFinalizer(() =>
        save.pipe(
          // Finalizers run uninterruptibly: only an interruptible write can be cut off at the deadline.
          Effect.interruptible,
          Effect.timeoutOption(FINAL_SAVE_TIMEOUT),
          Effect.flatMap(Option.match({
            onNone: () => Effect.logWarning("The final write of the state ConfigMap timed out"),
            onSome: () => Effect.void
          }))
        )
      )

      /** Reads our key: the remembered names, or none (absent, refused, unreadable). */
      const load = (store: StateConfigMap) =>
        store.read.pipe(
          Effect.retry({ schedule: LOAD_RETRY, while: (e) => !isForbidden(e) }),
          Effect.flatMap((found) => {
            const text = Option.flatMap(found, (configMap) => Option.fromNullable(configMap.data[key]))
            if (Option.isNone(text)) {
              metrics.stateOperation("load", "absent")
              return Effect.succeed<ReadonlyArray<RememberedName>>([])
            }
            return Either.match(decodeState(stateScope, text.value), {
              onLeft: (refusal) => {
                metrics.stateOperation("load", refusal._tag === "Foreign" ? "foreign" : "unreadable")
                return Effect.logWarning("The state ConfigMap's content cannot be used; ignored (it will be overwritten)").pipe(
                  Effect.annotateLogs({ problem: refusal._tag, reason: refusal.reason }),
                  Effect.as<ReadonlyArray<RememberedName>>([])
                )
              },
              onRight: (remembered) => {
                metrics.stateOperation("load", "ok")
                return Effect.succeed(remembered)
              }
            })
          })
        )

      /**
       * At start, before the workers: the remembered names back into the
       * ledger (a name already there is newer), the writer started. Returns
       * once the state is read (or found unusable).
       */
      const restore: Effect.Effect<void> = Effect.gen(function*() {
          if (Option.isNone(configMap)) {
            yield* Effect.logInfo("State persistence is off (-state-configmap=\"\"): a workload deleted while no tracker runs will not be decommissioned")
            return
          }
          const store = configMap.value
          const loaded = yield* load(store).pipe(
            Effect.map(Option.some),
            Effect.catchTag("VersionedObjectError", (error) => {
              if (isForbidden(error)) {
                metrics.stateOperation("load", "forbidden")
                return forbiddenWarning(error).pipe(Effect.as(Option.none<ReadonlyArray<RememberedName>>()))
              }
              metrics.stateOperation("load", "failed")
              // Writing now would replace a state that could not be read with a partial one.
              return Effect.logError("Could not read the state ConfigMap; running without persistence until the next start").pipe(
                Effect.annotateLogs({ status: error.status, error: error.message }),
                Effect.as(Option.none<ReadonlyArray<RememberedName>>())
              )
            })
          )
          if (Option.isNone(loaded)) return
          const names = loaded.value
          for (const name of names) {
            if (ledger.get(recordIdentity(name.record)) === undefined) ledger.put(ledgerEntry(name))
          }
          yield* Effect.logInfo("State loaded").pipe(Effect.annotateLogs({ names: names.length }))
          if (config.dryRun) return
          active = { store }
          yield* Effect.forkIn(writer, scope)
        }).pipe(Effect.annotateLogs(describe))

      return { restore } as const
    })
  }
) {}
