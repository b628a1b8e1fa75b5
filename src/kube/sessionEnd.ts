import { Data, Duration } from "effect"
import { KubeApiError } from "./KubeApi.ts"

/**
 * Where a session was when it ended: reading the pages of a LIST, reading
 * a streaming list's initial events (before its end bookmark), or watching
 * after a complete list (or with no list needed).
 */
export type Stage = "listing" | "initial-events" | "watching"

interface Reached {
  readonly stage: Stage
  /** Where the next watch would resume: the last resourceVersion the session made its own. */
  readonly resourceVersion: string
}

/**
 * How one list/watch session ended: the last element of its stream.
 * - Closed: the server ended the watch without an error (its deadline).
 * - Expired: the resourceVersion asked for is gone (410) or not there yet
 *   (too large): a relist.
 * - Failed: anything else; `relist` when the store may have missed events.
 */
export type SessionEnd = Data.TaggedEnum<{
  Closed: Reached & { readonly events: number; readonly millis: number }
  Expired: Reached
  Failed: Reached & { readonly error: KubeApiError; readonly relist: boolean }
}>

export const SessionEnd = Data.taggedEnum<SessionEnd>()

export const isSessionEnd = (step: { readonly _tag: string }): step is SessionEnd =>
  step._tag === "Closed" || step._tag === "Expired" || step._tag === "Failed"

const isExpired = (status: number, reason: string, message: string): boolean =>
  status === 410 || reason === "Expired" || reason === "Gone" ||
  // A resourceVersion newer than the server's cache: client-go treats it as expired.
  (status === 504 && message.includes("Too large resource version"))

/** Transport trouble, throttling and server errors: the store missed nothing, so reconnect where it was. */
const isTransient = (status: number): boolean => status === 0 || status === 429 || status >= 500

/** A failed request (an HTTP status, a transport failure or a silent connection). */
export const endOfError = (error: KubeApiError, at: Reached): SessionEnd =>
  isExpired(error.status, error.reason, error.message)
    ? SessionEnd.Expired(at)
    : SessionEnd.Failed({ ...at, error, relist: !isTransient(error.status) })

/** An ERROR event in the stream: the server gave up on this watch, so relist as client-go does. */
export const endOfStatus = (
  status: { readonly code: number; readonly reason: string; readonly message: string },
  at: Reached
): SessionEnd =>
  isExpired(status.code, status.reason, status.message)
    ? SessionEnd.Expired(at)
    : SessionEnd.Failed({
      ...at,
      error: new KubeApiError({ status: status.code, reason: status.reason, message: status.message }),
      relist: true
    })

/** A line that is not a watch event: something was lost, so relist. */
export const endOfUnreadable = (reason: string, at: Reached): SessionEnd =>
  SessionEnd.Failed({ ...at, error: new KubeApiError({ status: 0, reason: "BadLine", message: reason }), relist: true })

/** What the loop knows between sessions. */
export interface Cursor {
  /** Where the next watch resumes; a streaming relist asks for at least this ("" = the latest). */
  readonly resourceVersion: string
  readonly needsList: boolean
  /** When the server last refused a streaming list (epoch millis). */
  readonly streamingListRefusedAt: number | undefined
}

export const initialCursor: Cursor = { resourceVersion: "", needsList: true, streamingListRefusedAt: undefined }

/**
 * After a refusal, lists are paginated for this long: a server's feature
 * gates change only with an upgrade, and asking again costs one request.
 */
export const STREAMING_LIST_RETRY = Duration.hours(1)

export type ListKind = "streaming" | "paginated"

/** How a session starts: a list of either kind (then its watch), or a watch from a resourceVersion. */
export type SessionStart =
  | { readonly _tag: "List"; readonly kind: ListKind; readonly resourceVersion: string }
  | { readonly _tag: "Watch"; readonly resourceVersion: string }

/** The next session for a cursor at `now`; `streamingList` is whether to try streaming lists at all. */
export const sessionStart = (cursor: Cursor, now: number, streamingList: boolean): SessionStart => {
  if (!cursor.needsList) return { _tag: "Watch", resourceVersion: cursor.resourceVersion }
  const refused = cursor.streamingListRefusedAt
  const streaming = streamingList &&
    (refused === undefined || now - refused >= Duration.toMillis(STREAMING_LIST_RETRY))
  return { _tag: "List", kind: streaming ? "streaming" : "paginated", resourceVersion: cursor.resourceVersion }
}

export type RestartReason = "closed" | "expired" | "error"

/** A log line the loop writes (fields beside the collection path). */
export interface Note {
  readonly level: "Info" | "Warning"
  readonly message: string
  readonly fields: Readonly<Record<string, string | number>>
}

/** What happens after a session: the new cursor, then a wait before the next session. */
export interface Next {
  readonly cursor: Cursor
  /** `backoff`: wait the reconnect backoff; `reset`: forget past failures; `none`: go on at once. */
  readonly wait: "backoff" | "reset" | "none"
  /** The restart as counted in the metrics; none when nothing restarts (a refused streaming list). */
  readonly restart: RestartReason | undefined
  readonly note: Note | undefined
}

/**
 * A streaming list cut by the network, throttled or not authorized (yet:
 * RBAC is cached anew after an API server restart; a paginated list would
 * need the same rights) is asked for again after a backoff. A connection
 * that stays silent is not the network: a server that serves streaming
 * lists sends its end bookmark right after the initial events, even for an
 * empty collection.
 */
const retriesStreamingList = (error: KubeApiError): boolean =>
  (error.status === 0 && error.reason !== "IdleTimeout") || error.status === 429 || error.status === 401 ||
  error.status === 403

const errorFields = (error: KubeApiError) => ({ status: error.status, reason: error.reason, error: error.message })

/**
 * The server would not serve a streaming list (422 with the WatchList gate
 * off, an ERROR event, a stream that ends before its initial events do):
 * list by pages at once, and keep doing so for a while.
 */
const fallBack = (cursor: Cursor, now: number, fields: Note["fields"]): Next => ({
  cursor: { ...cursor, needsList: true, streamingListRefusedAt: now },
  wait: "none",
  restart: undefined,
  note: { level: "Info", message: "The API server did not serve a streaming list; using paginated lists", fields }
})

/**
 * The session-end -> next action table. `cursor` is what the session
 * started from, `now` when it ended. Mirrors client-go's reflector: a watch
 * closed at its deadline resumes; 410 relists; a failure backs off and
 * relists only when events may have been missed; a streaming list that
 * fails for any reason but the network, throttling or authorization falls
 * back to pages.
 */
export const nextStep = (cursor: Cursor, end: SessionEnd, now: number): Next => {
  const listed = end.stage === "watching"
  switch (end._tag) {
    case "Closed": {
      if (end.stage === "initial-events") {
        return fallBack(cursor, now, { reason: "the stream ended before its initial events did" })
      }
      const resumed: Cursor = { ...cursor, resourceVersion: end.resourceVersion, needsList: !listed }
      // One that closes at once with nothing in it is not a deadline
      // (client-go's "very short watch"): back off rather than spin.
      return end.events === 0 && end.millis < 1000
        ? { cursor: resumed, wait: "backoff", restart: "error", note: undefined }
        : { cursor: resumed, wait: "reset", restart: "closed", note: undefined }
    }
    case "Expired": {
      const fromLatest = end.stage === "initial-events"
      return {
        // A streaming list whose resourceVersion is unusable asks for the
        // latest instead; a relist after a watch asks for at least the last seen.
        cursor: { ...cursor, needsList: true, resourceVersion: fromLatest ? "" : end.resourceVersion },
        // Only a request already at the latest can expire twice in a row.
        wait: fromLatest && end.resourceVersion === "" ? "backoff" : "none",
        restart: "expired",
        note: {
          level: "Info",
          message: "Watch resourceVersion expired; relisting",
          fields: { resourceVersion: end.resourceVersion }
        }
      }
    }
    case "Failed": {
      const { error } = end
      if (end.stage === "initial-events" && !retriesStreamingList(error)) {
        return fallBack(cursor, now, errorFields(error))
      }
      return {
        cursor: { ...cursor, resourceVersion: end.resourceVersion, needsList: !listed || end.relist },
        wait: "backoff",
        restart: "error",
        note: {
          level: "Warning",
          message: error.status === 403 || error.status === 401
            ? "Kubernetes API refused the request; check the ClusterRole/RoleBinding of this service account (RBAC)"
            : "List/watch failed; reconnecting with backoff",
          fields: errorFields(error)
        }
      }
    }
  }
}
