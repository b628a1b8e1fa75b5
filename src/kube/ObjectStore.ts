import type { Delta } from "./Delta.ts"
import { relistDiff } from "./relistDiff.ts"

/**
 * A reflector's cache: the last known state of every object, by key. The
 * one mutable thing of a reflector: its watch sessions write it, consumers
 * read it. Every write returns the delta it makes.
 */
export interface ObjectStore<T> {
  readonly get: (key: string) => T | undefined
  readonly size: () => number
  readonly values: () => IterableIterator<T>
  readonly upsert: (value: T) => Delta<T>
  readonly remove: (value: T) => Delta<T>
  /** Takes a complete list as the new contents; returns the differences, `Synced` last. */
  readonly replace: (listed: Map<string, T>) => Array<Delta<T>>
}

export const makeObjectStore = <T>(
  keyOf: (value: T) => string,
  resourceVersionOf: (value: T) => string
): ObjectStore<T> => {
  let objects = new Map<string, T>()
  return {
    get: (key) => objects.get(key),
    size: () => objects.size,
    values: () => objects.values(),
    upsert: (current) => {
      const key = keyOf(current)
      const previous = objects.get(key)
      objects.set(key, current)
      return { _tag: "Upsert", key, previous, current }
    },
    remove: (last) => {
      const key = keyOf(last)
      objects.delete(key)
      return { _tag: "Delete", key, last, finalStateUnknown: false }
    },
    replace: (listed) => {
      const deltas = relistDiff(objects, listed, resourceVersionOf)
      objects = listed
      return deltas
    }
  }
}
