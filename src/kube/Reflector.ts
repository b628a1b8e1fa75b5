import { Chunk, Clock, Deferred, Duration, Effect, Random, Schedule, type Scope, Stream } from "effect"
import type { WatchProgress } from "../observability/Liveness.ts"
import type { Delta, Projection } from "./Delta.ts"
import { KubeApi, KubeApiError, type Query, type ReadOptions, type Representation } from "./KubeApi.ts"

export type { Delta, Projection } from "./Delta.ts"

export interface ReflectorOptions<T> {
  /** Collection path, e.g. `/api/v1/pods` or `/api/v1/namespaces/x/pods`. */
  readonly path: string
  readonly fieldSelector?: string | undefined
  /** `metadata` lists and watches through the metadata API (only `metadata` travels). */
  readonly representation?: Representation
  readonly project: (raw: unknown) => Projection<T>
  readonly keyOf: (value: T) => string
  readonly resourceVersionOf: (value: T) => string
  /** Called for every object that cannot be projected (logged, counted, skipped). */
  readonly onInvalid?: (reason: string) => Effect.Effect<void>
  readonly onRestart?: (reason: "closed" | "expired" | "error") => Effect.Effect<void>
  readonly pageSize?: number
  /** A watch that stays silent this long (no event, no bookmark) is dead. */
  readonly idleTimeout?: Duration.DurationInput
  /**
   * Where the loop reports progress (e.g. `Liveness.watch(name)`): acquired
   * when the deltas stream starts running, released when it stops. Every
   * list page, watch event and bookmark counts as progress; the time
   * between handing deltas over and the consumer's next pull is the
   * consumer's, not a stall of the watch.
   */
  readonly progress?: Effect.Effect<WatchProgress, never, Scope.Scope>
}

export interface Reflector<T> {
  readonly deltas: Stream.Stream<Delta<T>>
  /**
   * Completes once the first list is in the store, whether or not its
   * deltas have been consumed yet (the consumer may be slower than a list).
   */
  readonly synced: Effect.Effect<void>
  readonly get: (key: string) => T | undefined
  readonly size: () => number
  readonly values: () => IterableIterator<T>
}

/**
 * Reconnect delay after a failed list or watch: client-go's reflector
 * policy (0.8 s doubling, jittered, capped at 30 s), reset by progress.
 */
export const reconnectBackoff = Schedule.exponential("800 millis").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("30 seconds"))
)

/** Bookmarks arrive about once a minute; three minutes of silence means a dead connection. */
const DEFAULT_IDLE_TIMEOUT = Duration.minutes(3)

type Outcome =
  | { readonly _tag: "Closed"; readonly events: number; readonly millis: number }
  | { readonly _tag: "Expired" }
  | { readonly _tag: "Failed"; readonly error: KubeApiError; readonly relist: boolean }

interface WatchStatus {
  readonly code?: number
  readonly reason?: string
  readonly message?: string
}

/** A Status the server put into the watch stream (an ERROR event), or an undecodable line. */
class WatchStatusError extends Error {
  readonly status: WatchStatus
  constructor(status: WatchStatus) {
    super(status.message ?? "watch error")
    this.status = status
  }
}

/** Marks the end of usable watch data inside a chunk. */
const ABORT = Symbol("abort")

const isExpired = (status: number, reason: string) => status === 410 || reason === "Expired" || reason === "Gone"

/**
 * A list-then-watch loop with the semantics of client-go's reflector, as an
 * Effect Stream:
 * - paginated LIST, then WATCH from the list's resourceVersion with
 *   bookmarks and a server-side timeout;
 * - a watch that ends is resumed from the last seen resourceVersion;
 * - 410 Gone (as a status or an in-stream ERROR) relists, and objects that
 *   vanished meanwhile are emitted as deletes, so nothing is lost while
 *   disconnected;
 * - failures back off exponentially (capped) before reconnecting.
 * The stream is pulled: while the consumer is busy, the socket is not read.
 */
export const makeReflector = <T>(options: ReflectorOptions<T>) =>
  Effect.gen(function*() {
    const api = yield* KubeApi
    const pageSize = String(options.pageSize ?? 500)
    const idleTimeout = Duration.decode(options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT)
    const onInvalid = options.onInvalid ?? (() => Effect.void)
    const onRestart = options.onRestart ?? (() => Effect.void)
    const readOptions: ReadOptions = options.representation === undefined ? {} : { as: options.representation }
    const selector: Query = options.fieldSelector !== undefined && options.fieldSelector !== ""
      ? { fieldSelector: options.fieldSelector }
      : {}

    let store = new Map<string, T>()
    let resourceVersion = ""
    let needsList = true
    let lastOutcome: Outcome | undefined
    const backoff = yield* Schedule.driver(reconnectBackoff)
    const firstSync = yield* Deferred.make<void>()
    // Set while the deltas stream runs with a progress reporter.
    let reporter: WatchProgress | undefined
    const progressed = Effect.suspend(() => reporter === undefined ? Effect.void : reporter.progressed)

    /**
     * A consistent snapshot, page by page. Each page is projected as it
     * arrives so only slim objects are held: a list of a large cluster is
     * gigabytes as raw JSON objects.
     */
    const listAll = Effect.gen(function*() {
      const fresh = new Map<string, T>()
      let continueToken: string | undefined
      let listVersion = ""
      do {
        const page = yield* api.getJson(options.path, { ...selector, limit: pageSize, continue: continueToken }, readOptions)
        yield* progressed
        const body = page as { items?: unknown; metadata?: { resourceVersion?: unknown; continue?: unknown } }
        // An empty PartialObjectMetadataList comes with `"items": null` (a nil Go slice).
        const items = body.items === null ? [] : body.items
        if (!Array.isArray(items)) {
          return yield* new KubeApiError({ status: 200, reason: "BadList", message: "list response has no items array" })
        }
        for (const item of items) {
          const projected = options.project(item)
          if (projected.ok) fresh.set(options.keyOf(projected.value), projected.value)
          else yield* onInvalid(projected.reason)
        }
        if (continueToken === undefined) listVersion = String(body.metadata?.resourceVersion ?? "")
        const next = body.metadata?.continue
        continueToken = typeof next === "string" && next !== "" ? next : undefined
      } while (continueToken !== undefined)
      return { fresh, listVersion }
    })

    /** Replace the store with a fresh list; emit the differences. */
    const relist = Effect.gen(function*() {
      const { fresh, listVersion } = yield* listAll
      const deltas: Array<Delta<T>> = []
      for (const [key, current] of fresh) {
        const previous = store.get(key)
        if (previous === undefined || options.resourceVersionOf(previous) !== options.resourceVersionOf(current)) {
          deltas.push({ _tag: "Upsert", previous, current })
        }
      }
      for (const [key, last] of store) {
        if (!fresh.has(key)) deltas.push({ _tag: "Delete", last, finalStateUnknown: true })
      }
      store = fresh
      resourceVersion = listVersion
      needsList = false
      deltas.push({ _tag: "Synced" })
      yield* Deferred.succeed(firstSync, undefined)
      yield* Effect.logInfo("Listed objects").pipe(
        Effect.annotateLogs({ path: options.path, count: fresh.size, resourceVersion: listVersion })
      )
      return Chunk.unsafeFromArray(deltas)
    })

    /** Applies one decoded watch line to the store; returns its delta, if any. */
    const applyLine = (line: string): Delta<T> | undefined => {
      if (line === "") return undefined
      let event: { type?: unknown; object?: unknown }
      try {
        event = JSON.parse(line) as typeof event
      } catch {
        throw new WatchStatusError({ reason: "BadLine", message: `undecodable watch line: ${line.slice(0, 120)}` })
      }
      const object = event.object as { metadata?: { resourceVersion?: unknown } } | undefined
      switch (event.type) {
        case "BOOKMARK": {
          const rv = object?.metadata?.resourceVersion
          if (typeof rv === "string" && rv !== "") resourceVersion = rv
          return undefined
        }
        case "ERROR":
          throw new WatchStatusError((event.object ?? {}) as WatchStatus)
        case "ADDED":
        case "MODIFIED":
        case "DELETED": {
          const projected = options.project(event.object)
          if (!projected.ok) {
            invalidSinceLastPull.push(projected.reason)
            return undefined
          }
          const value = projected.value
          resourceVersion = options.resourceVersionOf(value)
          const key = options.keyOf(value)
          const previous = store.get(key)
          if (event.type === "DELETED") {
            store.delete(key)
            return { _tag: "Delete", last: value, finalStateUnknown: false }
          }
          store.set(key, value)
          return { _tag: "Upsert", previous, current: value }
        }
        default:
          return undefined
      }
    }
    const invalidSinceLastPull: Array<string> = []

    const watch = Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      // client-go asks for a random 5-10 minute server timeout so many
      // watchers do not all reconnect at once.
      const timeoutSeconds = yield* Random.nextIntBetween(300, 600)
      let events = 0
      let failure: WatchStatusError | undefined
      const lines = api.stream(options.path, {
        ...selector,
        watch: "1",
        resourceVersion,
        allowWatchBookmarks: "true",
        timeoutSeconds: String(timeoutSeconds)
      }, readOptions).pipe(
        Stream.timeoutFail(
          () => new KubeApiError({ status: 0, reason: "IdleTimeout", message: `no data for ${Duration.format(idleTimeout)}` }),
          idleTimeout
        ),
        Stream.decodeText(),
        Stream.splitLines,
        Stream.mapChunksEffect((chunk) => {
          const out: Array<Delta<T> | typeof ABORT> = []
          let heard = false
          for (const line of chunk) {
            try {
              const delta = applyLine(line)
              // Any event the server sent, bookmarks and unreadable objects
              // included, shows the watch is alive.
              if (line !== "") heard = true
              if (delta !== undefined) {
                out.push(delta)
                events++
              }
            } catch (e) {
              failure = e instanceof WatchStatusError ? e : new WatchStatusError({ message: String(e) })
              out.push(ABORT)
              break
            }
          }
          const result = Chunk.unsafeFromArray(out)
          const reported = heard ? progressed : Effect.void
          return invalidSinceLastPull.length > 0
            ? Effect.as(Effect.zipRight(reported, flushInvalid), result)
            : Effect.as(reported, result)
        }),
        // Stop reading once the server reported an error in the stream,
        // keeping what came before it.
        Stream.takeWhile((d): d is Delta<T> => d !== ABORT),
        Stream.ensuring(Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          if (failure !== undefined) {
            const { code, message, reason } = failure.status
            lastOutcome = isExpired(code ?? 0, reason ?? "")
              ? { _tag: "Expired" }
              : {
                _tag: "Failed",
                relist: true,
                error: new KubeApiError({ status: code ?? 0, reason: reason ?? "", message: message ?? "" })
              }
          } else if (lastOutcome === undefined) {
            lastOutcome = { _tag: "Closed", events, millis: now - started }
          }
        }))
      )
      return lines
    })

    const flushInvalid = Effect.suspend(() => {
      const reasons = invalidSinceLastPull.splice(0)
      return Effect.forEach(reasons, onInvalid, { discard: true })
    })

    const recordFailure = (error: KubeApiError) =>
      Effect.sync(() => {
        lastOutcome = isExpired(error.status, error.reason)
          ? { _tag: "Expired" }
          // Transport trouble, throttling and server errors keep the
          // resourceVersion and just reconnect; anything else relists.
          : { _tag: "Failed", error, relist: !(error.status === 0 || error.status === 429 || error.status >= 500) }
      })

    /** One list-and/or-watch round; never fails (the outcome is recorded). */
    const session = Stream.suspend(() => {
      lastOutcome = undefined
      const listed = needsList
        ? Stream.fromEffect(relist).pipe(Stream.flattenChunks)
        : Stream.empty
      return Stream.concat(listed, Stream.unwrap(watch)).pipe(
        Stream.catchAll((error) => Stream.fromEffect(recordFailure(error)).pipe(Stream.drain))
      )
    })

    /** Decides, after a session, whether to wait and whether to relist. */
    const prepareNext = Effect.gen(function*() {
      const outcome = lastOutcome
      if (outcome === undefined) return
      switch (outcome._tag) {
        case "Closed":
          // A watch the server closes at its deadline is normal: resume.
          // One that closes at once with nothing in it is not (client-go's
          // "very short watch"): back off rather than spin.
          if (outcome.events === 0 && outcome.millis < 1000) {
            yield* onRestart("error")
            yield* backoff.next(undefined).pipe(Effect.ignore)
          } else {
            yield* onRestart("closed")
            yield* backoff.reset
          }
          return
        case "Expired":
          yield* onRestart("expired")
          yield* Effect.logInfo("Watch resourceVersion expired; relisting").pipe(
            Effect.annotateLogs({ path: options.path, resourceVersion })
          )
          needsList = true
          return
        case "Failed": {
          const { error } = outcome
          yield* onRestart("error")
          if (outcome.relist) needsList = true
          yield* Effect.logWarning(
            error.status === 403 || error.status === 401
              ? "Kubernetes API refused the request; check the ClusterRole/RoleBinding of this service account (RBAC)"
              : "List/watch failed; reconnecting with backoff"
          ).pipe(Effect.annotateLogs({ path: options.path, status: error.status, reason: error.reason, error: error.message }))
          yield* backoff.next(undefined).pipe(Effect.ignore)
          return
        }
      }
    })

    const loop: Stream.Stream<Delta<T>> = Stream.repeatEffect(
      prepareNext.pipe(Effect.as(session))
    ).pipe(Stream.flatten())

    /**
     * The loop with its progress reported: each pull is the consumer asking
     * for more (from then on the loop waits on the server), each chunk
     * returned is handed over (from then on the consumer holds the loop).
     */
    const reportProgress = (progress: Effect.Effect<WatchProgress, never, Scope.Scope>) =>
      Stream.fromPull(Effect.gen(function*() {
        const report = yield* progress
        reporter = report
        yield* Effect.addFinalizer(() => Effect.sync(() => (reporter = undefined)))
        const pull = yield* Stream.toPull(loop)
        // An empty chunk hands nothing over: the loop is still the server's.
        return report.pulled.pipe(
          Effect.zipRight(pull),
          Effect.tap((chunk) => Chunk.isEmpty(chunk) ? Effect.void : report.handedOver)
        )
      }))

    const deltas = options.progress === undefined ? loop : reportProgress(options.progress)

    return {
      deltas,
      synced: Deferred.await(firstSync),
      get: (key) => store.get(key),
      size: () => store.size,
      values: () => store.values()
    } satisfies Reflector<T>
  })
