import { Deferred, Effect } from "effect"

/**
 * Mutual exclusion per key: at most one effect per key runs at a time; the
 * others wait their turn. Keys are held only while in use.
 */
export interface KeyedMutex {
  readonly withKey: (key: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly size: () => number
}

export const makeKeyedMutex: Effect.Effect<KeyedMutex> = Effect.sync(() => {
  const held = new Map<string, Deferred.Deferred<void>>()

  const acquire = (key: string): Effect.Effect<Deferred.Deferred<void>> =>
    Effect.suspend(() => {
      const current = held.get(key)
      if (current !== undefined) return Deferred.await(current).pipe(Effect.zipRight(acquire(key)))
      return Deferred.make<void>().pipe(Effect.tap((mine) => Effect.sync(() => held.set(key, mine))))
    })

  const release = (key: string, mine: Deferred.Deferred<void>) =>
    Effect.suspend(() => {
      held.delete(key)
      return Deferred.succeed(mine, undefined)
    })

  return {
    withKey: (key) => (effect) =>
      Effect.acquireUseRelease(acquire(key), () => effect, (mine) => release(key, mine)),
    size: () => held.size
  }
})
