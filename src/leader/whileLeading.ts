import { Effect, Fiber, Ref } from "effect"
import type { LeaderElector, LeadershipLost } from "./LeaderElector.ts"

export interface LeadingHooks {
  /** Runs once the lease is held, before the work starts. */
  readonly onStartedLeading?: Effect.Effect<void>
  /**
   * Runs the moment the lease is lost, before the work is stopped. The
   * process uses it to exit at once (client-go's usual `klog.Fatal`): a
   * graceful stop would drain the work queue, posting as a non-leader
   * while a standby may already have taken over.
   */
  readonly onLost?: (lost: LeadershipLost) => Effect.Effect<void>
}

/**
 * Runs `work` only while `elector` holds the lease: waits to acquire it,
 * starts the work, renews in the background.
 *
 * - Lease lost: `onLost`, then the work is interrupted; fails with LeadershipLost.
 * - Work ends (success or failure): renewal stops, the lease is released, the work's result is returned.
 * - Interrupted (shutdown): the work is interrupted first and its
 *   finalizers run while the lease is still being renewed (a drain may
 *   outlast the lease duration); then renewal stops and the lease is
 *   released, so a standby takes over without waiting for expiry.
 */
export const whileLeading = <A, E, R>(
  elector: LeaderElector,
  work: Effect.Effect<A, E, R>,
  hooks: LeadingHooks = {}
): Effect.Effect<A, E | LeadershipLost, R> =>
  Effect.scoped(Effect.gen(function*() {
    const lost = yield* Ref.make(false)
    // Finalizers run last-added first: work, then renewal, then release
    // (not after a loss: the lease is someone else's by then, or soon).
    yield* Effect.addFinalizer(() => Effect.flatMap(Ref.get(lost), (l) => l ? Effect.void : Effect.asVoid(elector.release)))
    yield* elector.acquire
    if (hooks.onStartedLeading !== undefined) yield* hooks.onStartedLeading
    const renewing = yield* elector.keepRenewing.pipe(
      Effect.tapError((e) => Ref.set(lost, true).pipe(Effect.zipRight(hooks.onLost?.(e) ?? Effect.void))),
      Effect.forkScoped
    )
    const working = yield* Effect.forkScoped(work)
    // Joining (not racing the fibers themselves): whichever ends first
    // decides, and the scope stops the other in the order above.
    return yield* Effect.raceFirst(Fiber.join(working), Fiber.join(renewing))
  }))
