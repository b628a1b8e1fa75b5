import { Duration, Effect, Either, Option, Schedule } from "effect"
import { Config } from "../config/Config.ts"
import type { KubeApiError } from "../kube/KubeApi.ts"
import { Metrics } from "../observability/Metrics.ts"
import { WorkloadResolver } from "../workload/Workload.ts"
import {
  budgetFor,
  decodeState,
  encodeState,
  type RememberedName,
  type RememberedOwner,
  stateKey,
  type StateScope
} from "./deployedState.ts"
import { isForbidden, makeStateConfigMap, type StateConfigMap, type StateConfigMapError } from "./StateConfigMap.ts"

/**
 * What persistence needs from the controller's ledger (EventProcessor
 * implements it, under the same per-name locks as every other change).
 */
export interface DeployedNames {
  /** Changes whenever the ledger does; cheap to poll. */
  readonly revision: () => number
  /** Every name currently `deployed`, with its owner and record. */
  readonly deployed: () => ReadonlyArray<RememberedName>
  /** Puts remembered names back as deployed, unless the name is already known (something newer). */
  readonly remember: (names: ReadonlyArray<RememberedName>) => Effect.Effect<void>
  /** `decommissioned` for every name the gone workload deployed, once each; "retry" when a post failed. */
  readonly decommissionGone: (owner: RememberedOwner) => Effect.Effect<"done" | "retry">
}

/** How often the writer looks for changes. */
export const CHANGE_CHECK_INTERVAL = Duration.seconds(1)
/** At most one write per this interval: the ConfigMap is rewritten whole each time. */
export const MIN_SAVE_INTERVAL = Duration.seconds(10)
/** The final write on shutdown must not hold the exit up for long. */
export const FINAL_SAVE_TIMEOUT = Duration.seconds(5)

/** Reading the state at start: a few quick tries, then the tracker runs without persistence. */
export const LOAD_RETRY = Schedule.exponential("500 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(3)))

/** A remembered workload whose state could not be checked (API error, failed post): tried again until it can be. */
export const GONE_CHECK_RETRY = Schedule.exponential("1 second").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("5 minutes"))
)

const ownerIdentity = (owner: RememberedOwner) =>
  owner.uid !== "" ? owner.uid : `${owner.kind}/${owner.namespace}/${owner.name}`

class StillUnsettled extends Error {}

/**
 * Keeps what the tracker believes is deployed in a ConfigMap, so that a
 * workload deleted while no tracker ran is still decommissioned:
 *
 * - at start (`restore`, before the workers start) the remembered names go
 *   back into the ledger; each remembered workload is then asked of the API
 *   (`isActive`: absent, being deleted, or another uid is gone) and a gone
 *   one's names are decommissioned once, through the ledger's locks, in the
 *   background, retried until it works;
 * - afterwards the deployed names are written when they changed, at most
 *   every 10 s, and once more on shutdown after the work queue drained.
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
      const resolver = yield* WorkloadResolver
      const scope = yield* Effect.scope
      const settings = config.deployedState
      const stateScope: StateScope = { org: config.org, cluster: config.cluster, logicalEnvironment: config.logicalEnvironment }
      const key = stateKey(stateScope)
      const configMap = Option.isSome(settings)
        ? Option.some(yield* makeStateConfigMap({ name: settings.value.configMapName, namespace: settings.value.namespace }))
        : Option.none<StateConfigMap>()

      // Set once `restore` ran; the writer and the final save work from it.
      let active: { readonly store: StateConfigMap; readonly names: DeployedNames } | undefined
      let savedRevision = -1
      let savedText = ""
      let warnedDropped = false

      const describe = Option.match(settings, {
        onNone: () => ({}),
        onSome: (s) => ({ configmap: `${s.namespace}/${s.configMapName}`, key })
      })

      const forbiddenWarning = (e: StateConfigMapError) =>
        Effect.logWarning(
          "The state ConfigMap is forbidden to this service account; running without persistence: a workload deleted while no tracker runs will not be decommissioned. Grant get, create and update on configmaps in this namespace (see the README's Permissions)"
        ).pipe(Effect.annotateLogs({ operation: e.operation, error: e.message }))

      /** Writes the deployed names unless nothing changed since the last write. */
      const save = Effect.gen(function*() {
        if (active === undefined) return
        const { names, store } = active
        const revision = names.revision()
        if (revision === savedRevision) return
        const deployed = names.deployed()
        let encoded = encodeState(stateScope, deployed, Number.MAX_SAFE_INTEGER)
        if (encoded.text === savedText) {
          savedRevision = revision
          return
        }
        const written = yield* store.writeKey(key, (current) => {
          encoded = encodeState(stateScope, deployed, budgetFor(key, current))
          return encoded.text
        }).pipe(Effect.either)
        if (Either.isLeft(written)) {
          const error = written.left
          if (isForbidden(error)) {
            metrics.stateOperation("save", "forbidden")
            active = undefined
            return yield* forbiddenWarning(error)
          }
          metrics.stateOperation("save", "failed")
          return yield* Effect.logWarning("Could not write the state ConfigMap; will try again").pipe(
            Effect.annotateLogs({ operation: error.operation, status: error.status, error: error.message })
          )
        }
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
          if (active === undefined || active.names.revision() === savedRevision) continue
          yield* save
          yield* Effect.sleep(Duration.subtract(MIN_SAVE_INTERVAL, CHANGE_CHECK_INTERVAL))
        }
      })

      // Runs when the controller layer stops, after its own finalizer drained
      // the work queue (this service was built before it, so it closes after).
      yield* Effect.addFinalizer(() =>
        save.pipe(
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

      /** Is the remembered workload gone? Then its names are decommissioned; fails while it cannot tell or a post failed. */
      const settle = (names: DeployedNames, owner: RememberedOwner): Effect.Effect<"running" | "decommissioned", KubeApiError | StillUnsettled> =>
        resolver.isActive({ ...owner, ownerAnnotations: [] }).pipe(
          Effect.flatMap((running) =>
            running
              ? Effect.succeed("running" as const)
              : names.decommissionGone(owner).pipe(
                Effect.flatMap((outcome) =>
                  outcome === "done" ? Effect.succeed("decommissioned" as const) : Effect.fail(new StillUnsettled())
                )
              )
          )
        )

      const settleInBackground = (names: DeployedNames, owners: ReadonlyArray<RememberedOwner>) =>
        Effect.forEach(owners, (owner) =>
          settle(names, owner).pipe(
            Effect.tapError((e) =>
              Effect.logWarning("Could not settle a remembered workload yet; will try again").pipe(
                Effect.annotateLogs({
                  workload: `${owner.kind} ${owner.namespace}/${owner.name}`,
                  error: e instanceof StillUnsettled ? "a decommission could not be posted" : e.message
                })
              )
            ),
            Effect.retry(GONE_CHECK_RETRY),
            Effect.either
          ), { concurrency: 4 }).pipe(
          Effect.flatMap((outcomes) => {
            const gone = outcomes.filter((o) => Either.isRight(o) && o.right === "decommissioned").length
            return Effect.logInfo("Remembered workloads checked").pipe(
              Effect.annotateLogs({ workloads: owners.length, gone_decommissioned: gone, running: owners.length - gone })
            )
          }),
          Effect.annotateLogs(describe)
        )

      /**
       * At start, before the workers: the remembered names back into the
       * ledger, the gone workloads' decommissions started, the writer
       * started. Returns once the state is read (or found unusable).
       */
      const restore = (names: DeployedNames): Effect.Effect<void> =>
        Effect.gen(function*() {
          if (Option.isNone(configMap)) {
            yield* Effect.logInfo("State persistence is off (-state-configmap=\"\"): a workload deleted while no tracker runs will not be decommissioned")
            return
          }
          const store = configMap.value
          const loaded = yield* load(store).pipe(Effect.either)
          if (Either.isLeft(loaded)) {
            const error = loaded.left
            if (isForbidden(error)) {
              metrics.stateOperation("load", "forbidden")
              return yield* forbiddenWarning(error)
            }
            metrics.stateOperation("load", "failed")
            // Writing now would replace a state that could not be read with a partial one.
            return yield* Effect.logError("Could not read the state ConfigMap; running without persistence until the next start").pipe(
              Effect.annotateLogs({ status: error.status, error: error.message })
            )
          }
          const remembered = loaded.right
          yield* names.remember(remembered)
          const owners = [...new Map(remembered.map((name) => [ownerIdentity(name.owner), name.owner])).values()]
          yield* Effect.logInfo("State loaded").pipe(Effect.annotateLogs({ names: remembered.length, workloads: owners.length }))
          if (owners.length > 0) yield* Effect.forkIn(settleInBackground(names, owners), scope)
          if (config.dryRun) return
          active = { store, names }
          yield* Effect.forkIn(writer, scope)
        }).pipe(Effect.annotateLogs(describe))

      return { restore } as const
    })
  }
) {}
