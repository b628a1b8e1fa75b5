import { Effect, Ref } from "effect"

/** Whether the controller has synced its caches and may report ready. */
export class Readiness extends Effect.Service<Readiness>()("deployment-tracker/Readiness", {
  effect: Effect.gen(function*() {
    const synced = yield* Ref.make(false)
    return {
      markSynced: Ref.set(synced, true),
      isReady: Ref.get(synced)
    } as const
  })
}) {}
