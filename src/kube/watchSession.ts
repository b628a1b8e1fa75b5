import { Cause, Channel, Chunk, Clock, type Context, Effect, Option, Random, Stream } from "effect"
import type { Delta, Projection } from "./Delta.ts"
import { type KubeApi, KubeApiError, type Query, type ReadOptions } from "./KubeApi.ts"
import type { ObjectStore } from "./ObjectStore.ts"
import {
  endOfError,
  endOfStatus,
  endOfUnreadable,
  type ListKind,
  SessionEnd,
  type SessionStart,
  type Stage
} from "./sessionEnd.ts"
import { splitLines } from "./lineSplitter.ts"
import { parseWatchLine } from "./watchLine.ts"

/** What a session streams: deltas, then how it ended (always last, exactly once). */
export type Step<T> = Delta<T> | SessionEnd

/** A complete list went into the store (its deltas may not be consumed yet). */
export interface Listed {
  readonly kind: ListKind
  readonly count: number
  readonly resourceVersion: string
}

export interface SessionSettings<T> {
  readonly api: Context.Tag.Service<KubeApi>
  readonly path: string
  readonly selector: Query
  readonly readOptions: ReadOptions
  readonly pageSize: number
  readonly project: (raw: unknown) => Projection<T>
  readonly keyOf: (value: T) => string
  readonly resourceVersionOf: (value: T) => string
  readonly store: ObjectStore<T>
  readonly onInvalid: (reason: string) => Effect.Effect<void>
  readonly onListed: (listed: Listed) => Effect.Effect<void>
}

/** What a watch connection has made its own so far. */
interface WatchState<T> {
  readonly resourceVersion: string
  /** Objects and deletions seen (bookmarks are not events). */
  readonly events: number
  /**
   * A streaming list's snapshot, filled until its end bookmark: slim
   * objects only, like a paginated list's pages.
   */
  readonly snapshot: Map<string, T> | undefined
}

interface ChunkRead<T> {
  readonly state: WatchState<T>
  readonly steps: Array<Step<T>>
  /** The last step ends the session (an ERROR event, an unreadable line): read no further. */
  readonly ended: boolean
  /** The server sent something: liveness progress. */
  readonly heard: boolean
  readonly invalid: ReadonlyArray<string> | undefined
  readonly listed: Listed | undefined
}

interface ListBody {
  readonly items?: unknown
  readonly metadata?: { readonly resourceVersion?: unknown; readonly continue?: unknown }
}

/**
 * Most steps one chunk carries. A stream keeps the last chunk it passed on
 * until it passes on the next, so a relist's deltas in one chunk would keep
 * every delta (and each object it replaced) for as long as the watch is
 * quiet afterwards; in pieces, only the last piece stays.
 */
export const MAX_STEPS_PER_CHUNK = 256

/** The steps as chunks of at most MAX_STEPS_PER_CHUNK. */
const piecesOf = <A>(steps: ReadonlyArray<A>): Array<Chunk.Chunk<A>> => {
  const pieces: Array<Chunk.Chunk<A>> = []
  for (let from = 0; from < steps.length; from += MAX_STEPS_PER_CHUNK) {
    pieces.push(Chunk.unsafeFromArray(steps.slice(from, from + MAX_STEPS_PER_CHUNK)))
  }
  return pieces
}

const stageOf = (snapshot: WatchState<unknown>["snapshot"]): Stage => snapshot === undefined ? "watching" : "initial-events"

/**
 * One list/watch session as a stream: the paginated LIST then a WATCH from
 * its resourceVersion, a streaming list (a WATCH that starts with the
 * collection's objects and goes on as a watch), or a WATCH resumed from a
 * resourceVersion. The store is written as deltas are produced; the session
 * never fails: its end is its last element.
 */
export const makeSessions = <T>(settings: SessionSettings<T>) => {
  const { api, keyOf, path, project, readOptions, resourceVersionOf, selector, store } = settings
  const pageSize = String(settings.pageSize)

  /** Reads one chunk of watch lines: writes the store (or the snapshot), returns the steps. */
  const readLines = (state: WatchState<T>, lines: Chunk.Chunk<string>): ChunkRead<T> => {
    let { events, resourceVersion, snapshot } = state
    const steps: Array<Step<T>> = []
    let heard = false
    let invalid: Array<string> | undefined
    let listed: Listed | undefined
    const read = (ended: boolean): ChunkRead<T> => ({
      state: { resourceVersion, events, snapshot },
      steps,
      ended,
      heard,
      invalid,
      listed
    })
    for (const line of lines) {
      const parsed = parseWatchLine(line)
      if (parsed._tag === "Blank") continue
      // Any event the server sent, bookmarks and unreadable objects
      // included, shows the connection is alive.
      heard = true
      switch (parsed._tag) {
        case "Change": {
          const projected = project(parsed.object)
          if (!projected.ok) {
            invalid = invalid ?? []
            invalid.push(projected.reason)
            break
          }
          const value = projected.value
          events++
          if (snapshot !== undefined) {
            // Initial events are not in resourceVersion order: the
            // resourceVersion waits for the end bookmark.
            if (parsed.type === "DELETED") snapshot.delete(keyOf(value))
            else snapshot.set(keyOf(value), value)
          } else {
            resourceVersion = resourceVersionOf(value)
            steps.push(parsed.type === "DELETED" ? store.remove(value) : store.upsert(value))
          }
          break
        }
        case "Bookmark": {
          if (snapshot === undefined) {
            if (parsed.resourceVersion !== "") resourceVersion = parsed.resourceVersion
          } else if (parsed.initialEventsEnd) {
            // The snapshot is complete as of this resourceVersion: it
            // replaces the store as a relist does, and the watch goes on.
            if (parsed.resourceVersion !== "") resourceVersion = parsed.resourceVersion
            listed = { kind: "streaming", count: snapshot.size, resourceVersion }
            for (const delta of store.replace(snapshot)) steps.push(delta)
            snapshot = undefined
          }
          break
        }
        case "Status":
          steps.push(endOfStatus(parsed, { stage: stageOf(snapshot), resourceVersion }))
          return read(true)
        case "Unreadable":
          steps.push(endOfUnreadable(parsed.reason, { stage: stageOf(snapshot), resourceVersion }))
          return read(true)
        case "Unknown":
          break
      }
    }
    return read(false)
  }

  /** Runs the effects a chunk asks for (progress, invalid objects, a completed list). */
  const settleChunk = (read: ChunkRead<T>, progressed: Effect.Effect<void>): Effect.Effect<ChunkRead<T>> => {
    if (read.invalid === undefined && read.listed === undefined) {
      return read.heard ? Effect.as(progressed, read) : Effect.succeed(read)
    }
    const { invalid, listed } = read
    return Effect.gen(function*() {
      if (read.heard) yield* progressed
      if (invalid !== undefined) yield* Effect.forEach(invalid, settings.onInvalid, { discard: true })
      if (listed !== undefined) yield* settings.onListed(listed)
      return read
    })
  }

  /**
   * Folds a watch body, chunk of lines by chunk, with the session's state;
   * how the body ended (closed by the server, or failed) is the last step.
   * Reads no further once a step ends the session.
   */
  const foldBody = (
    lines: Stream.Stream<string, KubeApiError>,
    initial: WatchState<T>,
    progressed: Effect.Effect<void>,
    started: number
  ): Stream.Stream<Step<T>> => {
    const at = (state: WatchState<T>) => ({ stage: stageOf(state.snapshot), resourceVersion: state.resourceVersion })
    const last = (end: SessionEnd) => Channel.write(Chunk.of<Step<T>>(end))
    const fold = (state: WatchState<T>): Channel.Channel<Chunk.Chunk<Step<T>>, Chunk.Chunk<string>, never, KubeApiError> =>
      Channel.readWithCause({
        onInput: (chunk: Chunk.Chunk<string>) =>
          Channel.flatMap(Channel.fromEffect(settleChunk(readLines(state, chunk), progressed)), (read) => {
            const steps = read.steps.length <= MAX_STEPS_PER_CHUNK
              ? Channel.write(Chunk.unsafeFromArray(read.steps))
              : Channel.writeAll(...piecesOf(read.steps))
            return read.ended ? steps : Channel.zipRight(steps, fold(read.state))
          }),
        onFailure: (cause: Cause.Cause<KubeApiError>) =>
          Option.match(Cause.failureOption(cause), {
            onNone: () => Channel.failCause(Cause.stripFailures(cause)),
            onSome: (error) => last(endOfError(error, at(state)))
          }),
        onDone: () =>
          Channel.flatMap(
            Channel.fromEffect(Clock.currentTimeMillis),
            (now) => last(SessionEnd.Closed({ ...at(state), events: state.events, millis: now - started }))
          )
      })
    return Stream.fromChannel(Channel.pipeTo(Stream.toChannel(lines), fold(initial)))
  }

  const watch = (resourceVersion: string, initialEvents: boolean, progressed: Effect.Effect<void>): Stream.Stream<Step<T>> =>
    Stream.unwrap(Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      // client-go asks for a random 5-10 minute server timeout so many
      // watchers do not all reconnect at once.
      const timeoutSeconds = yield* Random.nextIntBetween(300, 600)
      const query: Query = {
        ...selector,
        watch: "1",
        resourceVersion: initialEvents && resourceVersion === "" ? undefined : resourceVersion,
        allowWatchBookmarks: "true",
        timeoutSeconds: String(timeoutSeconds),
        ...(initialEvents ? { sendInitialEvents: "true", resourceVersionMatch: "NotOlderThan" } : {})
      }
      // A silent connection is ended by the transport (KubeApi's idle
      // timeout) as a KubeApiError "IdleTimeout".
      const lines = api.stream(path, query, readOptions).pipe(
        splitLines
      )
      const initial: WatchState<T> = { resourceVersion, events: 0, snapshot: initialEvents ? new Map() : undefined }
      return foldBody(lines, initial, progressed, started)
    }))

  /**
   * A consistent snapshot, page by page. Each page is projected as it
   * arrives (a list of a large cluster is gigabytes as raw JSON objects),
   * in this one loop: pages handed on to another effect or stream element
   * outlived young-generation collections, which grew the heap by the young
   * generation's size (measured at 20,000 pods).
   */
  const listPages = (progressed: Effect.Effect<void>) =>
    Effect.gen(function*() {
      const listed = new Map<string, T>()
      let resourceVersion = ""
      let token: string | undefined
      do {
        const page = (yield* api.getJson(path, { ...selector, limit: pageSize, continue: token }, readOptions)) as ListBody
        yield* progressed
        // An empty PartialObjectMetadataList comes with `"items": null` (a nil Go slice).
        const items = page.items === null ? [] : page.items
        if (!Array.isArray(items)) {
          return yield* new KubeApiError({ status: 200, reason: "BadList", message: "list response has no items array" })
        }
        for (const item of items) {
          const projected = project(item)
          if (projected.ok) listed.set(keyOf(projected.value), projected.value)
          else yield* settings.onInvalid(projected.reason)
        }
        // Every page carries the first one's resourceVersion.
        if (token === undefined) resourceVersion = String(page.metadata?.resourceVersion ?? "")
        const next = page.metadata?.continue
        token = typeof next === "string" && next !== "" ? next : undefined
      } while (token !== undefined)
      return { listed, resourceVersion }
    })

  const paginated = (resourceVersion: string, progressed: Effect.Effect<void>): Stream.Stream<Step<T>> =>
    Stream.unwrap(listPages(progressed).pipe(
      Effect.map(({ listed, resourceVersion }) =>
        Stream.concat(
          // The deltas are made as this part runs: a stream that held them
          // would keep them (and the replaced objects) for the whole watch.
          Stream.unwrap(Effect.suspend(() => {
            const count = listed.size
            const deltas = piecesOf<Step<T>>(store.replace(listed))
            return Effect.as(settings.onListed({ kind: "paginated", count, resourceVersion }), Stream.fromChunks(...deltas))
          })),
          watch(resourceVersion, false, progressed)
        )
      ),
      Effect.catchTag(
        "KubeApiError",
        (error) => Effect.succeed(Stream.succeed<Step<T>>(endOfError(error, { stage: "listing", resourceVersion })))
      )
    ))

  return {
    /** One session; `progressed` runs whenever the server sends something. */
    session: (start: SessionStart, progressed: Effect.Effect<void>): Stream.Stream<Step<T>> => {
      if (start._tag === "Watch") return watch(start.resourceVersion, false, progressed)
      return start.kind === "streaming"
        ? watch(start.resourceVersion, true, progressed)
        : paginated(start.resourceVersion, progressed)
    }
  }
}
