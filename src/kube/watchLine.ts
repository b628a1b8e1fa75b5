/**
 * One line of a watch response, read. Never throws: what cannot be read is
 * a value like any other, and the session decides what it means.
 */
export type WatchLine =
  | { readonly _tag: "Blank" }
  | { readonly _tag: "Change"; readonly type: "ADDED" | "MODIFIED" | "DELETED"; readonly object: unknown }
  | {
    readonly _tag: "Bookmark"
    /** "" when the bookmark carries none. */
    readonly resourceVersion: string
    /** The bookmark that ends a streaming list's initial events (`k8s.io/initial-events-end`). */
    readonly initialEventsEnd: boolean
  }
  /** An ERROR event: the Status the server put into the stream before closing it. */
  | { readonly _tag: "Status"; readonly code: number; readonly reason: string; readonly message: string }
  /** Not JSON, or not a watch event. */
  | { readonly _tag: "Unreadable"; readonly reason: string }
  /** A well-formed event of a type this client does not know: ignored. */
  | { readonly _tag: "Unknown"; readonly type: string }

export const INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end"

const BLANK: WatchLine = { _tag: "Blank" }

type JsonObject = { readonly [key: string]: unknown }

const isObject = (value: unknown): value is JsonObject => typeof value === "object" && value !== null

const stringOr = (value: unknown, fallback: string): string => typeof value === "string" ? value : fallback

const unreadable = (reason: string, line: string): WatchLine => ({
  _tag: "Unreadable",
  reason: `${reason}: ${line.slice(0, 120)}`
})

const parseJson = (line: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false } => {
  try {
    return { ok: true, value: JSON.parse(line) }
  } catch {
    return { ok: false }
  }
}

const bookmarkOf = (object: unknown): WatchLine => {
  const metadata = isObject(object) ? object["metadata"] : undefined
  if (!isObject(metadata)) return { _tag: "Bookmark", resourceVersion: "", initialEventsEnd: false }
  const annotations = metadata["annotations"]
  return {
    _tag: "Bookmark",
    resourceVersion: stringOr(metadata["resourceVersion"], ""),
    initialEventsEnd: isObject(annotations) && annotations[INITIAL_EVENTS_END_ANNOTATION] === "true"
  }
}

const statusOf = (object: unknown): WatchLine => {
  const status = isObject(object) ? object : {}
  const code = status["code"]
  return {
    _tag: "Status",
    code: typeof code === "number" ? code : 0,
    reason: stringOr(status["reason"], ""),
    message: stringOr(status["message"], "watch error")
  }
}

export const parseWatchLine = (line: string): WatchLine => {
  if (line === "") return BLANK
  const parsed = parseJson(line)
  if (!parsed.ok) return unreadable("undecodable watch line", line)
  const event = parsed.value
  if (!isObject(event)) return unreadable("watch line is not an event", line)
  const type = event["type"]
  switch (type) {
    case "ADDED":
    case "MODIFIED":
    case "DELETED":
      return { _tag: "Change", type, object: event["object"] }
    case "BOOKMARK":
      return bookmarkOf(event["object"])
    case "ERROR":
      return statusOf(event["object"])
    default:
      return typeof type === "string" ? { _tag: "Unknown", type } : unreadable("watch event has no type", line)
  }
}
