import { Chunk, Clock, Deferred, Effect, Ref, Schedule, type Scope, Stream } from "effect"
import type { WatchProgress } from "../observability/Liveness.ts"
import type { Delta, Projection } from "./Delta.ts"
import { KubeApi, type Query, type ReadOptions, type Representation } from "./KubeApi.ts"
import { makeObjectStore } from "./ObjectStore.ts"
import { type Cursor, initialCursor, isSessionEnd, type Next, nextStep, sessionStart } from "./sessionEnd.ts"
import { type Listed, makeSessions, type Step } from "./watchSession.ts"

export type { Delta, Projection } from "./Delta.ts"

export interface ReflectorOptions<T> {
  /** Collection path, e.g. `/api/v1/pods` or `/api/v1/namespaces/x/pods`. */
  readonly path: string
  readonly fieldSelector?: string | undefined
  readonly labelSelector?: string | undefined
  /** `metadata` lists and watches through the metadata API (only `metadata` travels). */
  readonly representation?: Representation
  readonly project: (raw: unknown) => Projection<T>
  readonly keyOf: (value: T) => string
  readonly resourceVersionOf: (value: T) => string
  /** Called for every object that cannot be projected (logged, counted, skipped). */
  readonly onInvalid?: (reason: string) => Effect.Effect<void>
  readonly onRestart?: (reason: "closed" | "expired" | "error") => Effect.Effect<void>
  readonly pageSize?: number
  /**
   * List with the API server's streaming list (a watch that starts with
   * every object) where the server serves it, else page by page. On by
   * default; a refusal is remembered for a while (see sessionEnd.ts).
   */
  readonly streamingList?: boolean
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

/** The loop between sessions: where the next one starts, and what to wait first. */
interface LoopState {
  readonly cursor: Cursor
  readonly wait: Next["wait"]
}

const isDelta = <T>(step: Step<T>): step is Delta<T> => !isSessionEnd(step)

/**
 * A list-then-watch loop with the semantics of client-go's reflector, as an
 * Effect Stream of sessions (watchSession.ts), each ending with how it
 * ended (sessionEnd.ts decides what follows):
 * - a streaming list where the server serves one, else a paginated LIST
 *   and a WATCH from its resourceVersion, with bookmarks and a server-side
 *   timeout;
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
    const { path } = options
    const onRestart = options.onRestart ?? (() => Effect.void)
    const streamingList = options.streamingList ?? true
    const store = makeObjectStore(options.keyOf, options.resourceVersionOf)
    const firstSync = yield* Deferred.make<void>()
    const backoff = yield* Schedule.driver(reconnectBackoff)
    const loopState = yield* Ref.make<LoopState>({ cursor: initialCursor, wait: "none" })

    const onListed = ({ count, kind, resourceVersion }: Listed) =>
      Deferred.succeed(firstSync, undefined).pipe(
        Effect.zipRight(Effect.logInfo("Listed objects")),
        Effect.annotateLogs({ path, count, resourceVersion, list: kind })
      )

    const { session } = makeSessions<T>({
      api,
      path,
      selector: {
        ...(options.fieldSelector !== undefined && options.fieldSelector !== "" ? { fieldSelector: options.fieldSelector } : {}),
        ...(options.labelSelector !== undefined && options.labelSelector !== "" ? { labelSelector: options.labelSelector } : {})
      } satisfies Query,
      readOptions: options.representation === undefined ? {} : { as: options.representation } satisfies ReadOptions,
      pageSize: options.pageSize ?? 500,
      project: options.project,
      keyOf: options.keyOf,
      resourceVersionOf: options.resourceVersionOf,
      store,
      onInvalid: options.onInvalid ?? (() => Effect.void),
      onListed
    })

    /** Waits as the last session's end asked; then where the next session starts. */
    const prepare = Effect.gen(function*() {
      const { cursor, wait } = yield* Ref.get(loopState)
      if (wait === "backoff") yield* backoff.next(undefined).pipe(Effect.ignore)
      else if (wait === "reset") yield* backoff.reset
      const now = yield* Clock.currentTimeMillis
      return { cursor, start: sessionStart(cursor, now, streamingList) }
    })

    /** Takes a session's end off its stream (always its last element) and records what follows. */
    const settle = (cursor: Cursor) => (chunk: Chunk.Chunk<Step<T>>): Effect.Effect<Chunk.Chunk<Delta<T>>> => {
      const last = Chunk.last(chunk)
      if (last._tag === "None" || !isSessionEnd(last.value)) return Effect.succeed(Chunk.filter(chunk, isDelta))
      const end = last.value
      return Effect.gen(function*() {
        const next = nextStep(cursor, end, yield* Clock.currentTimeMillis)
        yield* Ref.set(loopState, { cursor: next.cursor, wait: next.wait })
        if (next.restart !== undefined) yield* onRestart(next.restart)
        const { note } = next
        if (note !== undefined) {
          yield* (note.level === "Warning" ? Effect.logWarning(note.message) : Effect.logInfo(note.message)).pipe(
            Effect.annotateLogs({ path, ...note.fields })
          )
        }
        return Chunk.filter(chunk, isDelta)
      })
    }

    const loop = (progressed: Effect.Effect<void>): Stream.Stream<Delta<T>> =>
      Stream.repeatEffect(prepare).pipe(
        Stream.flatMap(({ cursor, start }) => session(start, progressed).pipe(Stream.mapChunksEffect(settle(cursor))))
      )

    /**
     * The loop with its progress reported: each pull is the consumer asking
     * for more (from then on the loop waits on the server), each chunk
     * returned is handed over (from then on the consumer holds the loop).
     */
    const reportProgress = (progress: Effect.Effect<WatchProgress, never, Scope.Scope>) =>
      Stream.fromPull(Effect.gen(function*() {
        const report = yield* progress
        const pull = yield* Stream.toPull(loop(report.progressed))
        // An empty chunk hands nothing over: the loop is still the server's.
        return report.pulled.pipe(
          Effect.zipRight(pull),
          Effect.tap((chunk) => Chunk.isEmpty(chunk) ? Effect.void : report.handedOver)
        )
      }))

    return {
      deltas: options.progress === undefined ? loop(Effect.void) : reportProgress(options.progress),
      synced: Deferred.await(firstSync),
      get: store.get,
      size: store.size,
      values: store.values
    } satisfies Reflector<T>
  })
