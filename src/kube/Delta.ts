/**
 * What a reflector tells its consumer, in the order things happened.
 * `Synced` follows every complete (re)list: from then on the store mirrors
 * the server as of that list.
 */
export type Delta<T> =
  | {
    readonly _tag: "Upsert"
    /** The store's key of the object: the same string, so a consumer's index by key holds no copy of it. */
    readonly key: string
    readonly previous: T | undefined
    readonly current: T
  }
  | {
    readonly _tag: "Delete"
    readonly key: string
    readonly last: T
    /** The delete was inferred from a relist: `last` may be stale. */
    readonly finalStateUnknown: boolean
  }
  | { readonly _tag: "Synced" }

/**
 * Raw JSON -> the slim form a cache keeps, or why it cannot be read. A plain
 * record rather than an Either: this runs for every object of every list and
 * watch, and the measured hot path allocates nothing more.
 */
export type Projection<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string }
