import { Effect, Ref } from "effect"

/**
 * Whether the replica may report ready: its caches have synced, or it is a
 * leader-election standby (healthy and able to take over; it watches
 * nothing until it leads, and a standby that never counted as ready would
 * stall rolling updates).
 */
export class Readiness extends Effect.Service<Readiness>()("deployment-tracker/Readiness", {
  effect: Effect.gen(function*() {
    const synced = yield* Ref.make(false)
    const standby = yield* Ref.make(false)
    return {
      markSynced: Ref.set(synced, true),
      markStandby: (isStandby: boolean) => Ref.set(standby, isStandby),
      isReady: Effect.zipWith(Ref.get(synced), Ref.get(standby), (s, b) => s || b)
    } as const
  })
}) {}
