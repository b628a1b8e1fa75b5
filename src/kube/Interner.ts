/**
 * Shares equal values between cached objects. Replicas of one workload
 * carry identical owner references, containers, images and digests; keeping
 * one copy instead of one per pod is most of the memory a pod cache costs.
 *
 * It is bounded: when it reaches `capacity` entries it starts over, which
 * only costs some sharing (values already handed out stay valid), so
 * workloads that come and go can never grow it without limit.
 */
export interface Interner {
  /** The shared value equal to the one `make` would build for `key`. */
  readonly shared: <T>(key: string, make: () => T) => T
  readonly size: () => number
}

export const makeInterner = (capacity = 100_000): Interner => {
  let values = new Map<string, unknown>()
  return {
    shared: <T>(key: string, make: () => T): T => {
      const found = values.get(key)
      if (found !== undefined) return found as T
      if (values.size >= capacity) values = new Map()
      const value = make()
      values.set(key, value)
      return value
    },
    size: () => values.size
  }
}
