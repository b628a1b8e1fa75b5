import type { Delta } from "./Delta.ts"

/**
 * The deltas that take a store from what it knew to a complete fresh list:
 * an upsert for every new or changed object (by resourceVersion), a delete
 * for every known object the list no longer has (its last known state, so
 * possibly stale: `finalStateUnknown`), then `Synced`. Unchanged objects
 * yield nothing, so a relist after a short disconnect is cheap downstream.
 */
export const relistDiff = <T>(
  known: ReadonlyMap<string, T>,
  listed: ReadonlyMap<string, T>,
  resourceVersionOf: (value: T) => string
): Array<Delta<T>> => {
  const deltas: Array<Delta<T>> = []
  for (const [key, current] of listed) {
    const previous = known.get(key)
    if (previous === undefined || resourceVersionOf(previous) !== resourceVersionOf(current)) {
      deltas.push({ _tag: "Upsert", key, previous, current })
    }
  }
  for (const [key, last] of known) {
    if (!listed.has(key)) deltas.push({ _tag: "Delete", key, last, finalStateUnknown: true })
  }
  deltas.push({ _tag: "Synced" })
  return deltas
}
