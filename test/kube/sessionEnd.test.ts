import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import { KubeApiError } from "../../src/kube/KubeApi.ts"
import {
  type Cursor,
  endOfError,
  endOfStatus,
  endOfUnreadable,
  initialCursor,
  type Next,
  nextStep,
  SessionEnd,
  sessionStart,
  type Stage,
  STREAMING_LIST_RETRY
} from "../../src/kube/sessionEnd.ts"

const at = (stage: Stage, resourceVersion = "20") => ({ stage, resourceVersion })
const error = (status: number, reason = "", message = "") => new KubeApiError({ status, reason, message })

/** An end as a short string: its tag, and for a failure whether it relists. */
const describeEnd = (end: SessionEnd) =>
  end._tag === "Failed" ? `Failed relist=${end.relist}` : end._tag

describe("a failed request -> a session end", () => {
  const rows: ReadonlyArray<readonly [string, KubeApiError, string]> = [
    ["HTTP 410 Expired", error(410, "Expired", "too old resource version"), "Expired"],
    ["HTTP 410 Gone (Kubernetes 1.17 and older)", error(410, "Gone"), "Expired"],
    ["a Status reason Expired on another code", error(500, "Expired"), "Expired"],
    ["504 Too large resource version (the cache is behind)", error(504, "Timeout", "Too large resource version: 50, current: 40"), "Expired"],
    ["504 for another reason is a server error", error(504, "Timeout", "request timed out"), "Failed relist=false"],
    ["a transport failure keeps the store: reconnect", error(0, "Transport", "ECONNRESET"), "Failed relist=false"],
    ["a silent connection keeps the store", error(0, "IdleTimeout", "no data for 3m"), "Failed relist=false"],
    ["429 throttling keeps the store", error(429, "TooManyRequests"), "Failed relist=false"],
    ["500 keeps the store", error(500, "InternalError"), "Failed relist=false"],
    ["503 keeps the store", error(503, "ServiceUnavailable"), "Failed relist=false"],
    ["403 relists (events may be missing)", error(403, "Forbidden"), "Failed relist=true"],
    ["422 relists", error(422, "Invalid"), "Failed relist=true"],
    ["an unreadable list response relists", error(200, "BadList"), "Failed relist=true"]
  ]
  for (const [label, failure, expected] of rows) {
    it(`${label} -> ${expected}`, () => {
      expect(describeEnd(endOfError(failure, at("watching")))).toBe(expected)
    })
  }

  it("the end keeps where the session got to", () => {
    expect(endOfError(error(0, "Transport"), at("initial-events", "7"))).toMatchObject({ stage: "initial-events", resourceVersion: "7" })
  })
})

describe("an ERROR event in the stream -> a session end", () => {
  const rows: ReadonlyArray<readonly [string, { code: number; reason: string; message: string }, string]> = [
    ["410 Expired", { code: 410, reason: "Expired", message: "too old resource version: 5 (9)" }, "Expired"],
    ["Too large resource version", { code: 504, reason: "Timeout", message: "Too large resource version: 9, current: 5" }, "Expired"],
    // client-go relists after any in-stream error: the server gave up on this watch.
    ["500 InternalError relists", { code: 500, reason: "InternalError", message: "etcd" }, "Failed relist=true"],
    ["a Status with no code relists", { code: 0, reason: "", message: "watch error" }, "Failed relist=true"]
  ]
  for (const [label, status, expected] of rows) {
    it(`${label} -> ${expected}`, () => {
      expect(describeEnd(endOfStatus(status, at("watching")))).toBe(expected)
    })
  }

  it("an unreadable line relists (an event may be lost) and says why", () => {
    const end = endOfUnreadable("undecodable watch line: {\"ty", at("watching"))
    expect(describeEnd(end)).toBe("Failed relist=true")
    expect(end._tag === "Failed" && end.error.reason).toBe("BadLine")
  })
})

describe("session end -> what happens next", () => {
  const NOW = 1_000_000
  const watching: Cursor = { resourceVersion: "10", needsList: false, streamingListRefusedAt: undefined }
  const listing: Cursor = { resourceVersion: "10", needsList: true, streamingListRefusedAt: undefined }
  const fresh: Cursor = initialCursor

  /** The parts of Next a row checks: the new cursor, the wait, the restart counted. */
  const summary = (next: Next) => ({
    resourceVersion: next.cursor.resourceVersion,
    needsList: next.cursor.needsList,
    fallBack: next.cursor.streamingListRefusedAt === NOW,
    wait: next.wait,
    restart: next.restart
  })

  const rows: ReadonlyArray<readonly [string, Cursor, SessionEnd, ReturnType<typeof summary>]> = [
    [
      "a watch closed at its deadline resumes from where it got to, backoff reset",
      watching,
      SessionEnd.Closed({ ...at("watching", "25"), events: 3, millis: 300_000 }),
      { resourceVersion: "25", needsList: false, fallBack: false, wait: "reset", restart: "closed" }
    ],
    [
      "a long quiet watch closed at its deadline is normal too",
      watching,
      SessionEnd.Closed({ ...at("watching", "10"), events: 0, millis: 300_000 }),
      { resourceVersion: "10", needsList: false, fallBack: false, wait: "reset", restart: "closed" }
    ],
    [
      "a very short empty watch (under 1 s, no events) backs off",
      watching,
      SessionEnd.Closed({ ...at("watching", "10"), events: 0, millis: 999 }),
      { resourceVersion: "10", needsList: false, fallBack: false, wait: "backoff", restart: "error" }
    ],
    [
      "a short watch with events is fine",
      watching,
      SessionEnd.Closed({ ...at("watching", "12"), events: 1, millis: 10 }),
      { resourceVersion: "12", needsList: false, fallBack: false, wait: "reset", restart: "closed" }
    ],
    [
      "a streaming list that closes before its initial events end falls back to pages",
      fresh,
      SessionEnd.Closed({ ...at("initial-events", ""), events: 40, millis: 600_000 }),
      { resourceVersion: "", needsList: true, fallBack: true, wait: "none", restart: undefined }
    ],
    [
      "Expired while watching relists at once, from at least the last resourceVersion",
      watching,
      SessionEnd.Expired(at("watching", "30")),
      { resourceVersion: "30", needsList: true, fallBack: false, wait: "none", restart: "expired" }
    ],
    [
      "Expired on a streaming list asks for the latest at once",
      listing,
      SessionEnd.Expired(at("initial-events", "10")),
      { resourceVersion: "", needsList: true, fallBack: false, wait: "none", restart: "expired" }
    ],
    [
      "Expired on a streaming list already at the latest backs off (no tight loop)",
      fresh,
      SessionEnd.Expired(at("initial-events", "")),
      { resourceVersion: "", needsList: true, fallBack: false, wait: "backoff", restart: "expired" }
    ],
    [
      "Expired between the pages of a LIST (continue token) lists again at once",
      listing,
      SessionEnd.Expired(at("listing", "10")),
      { resourceVersion: "10", needsList: true, fallBack: false, wait: "none", restart: "expired" }
    ],
    [
      "a dropped watch backs off and resumes without a relist",
      watching,
      SessionEnd.Failed({ ...at("watching", "14"), error: error(0, "Transport"), relist: false }),
      { resourceVersion: "14", needsList: false, fallBack: false, wait: "backoff", restart: "error" }
    ],
    [
      "a failure that may have lost events backs off and relists",
      watching,
      SessionEnd.Failed({ ...at("watching", "14"), error: error(500, "InternalError"), relist: true }),
      { resourceVersion: "14", needsList: true, fallBack: false, wait: "backoff", restart: "error" }
    ],
    [
      "a failed LIST backs off and lists again",
      listing,
      SessionEnd.Failed({ ...at("listing", "10"), error: error(403, "Forbidden"), relist: true }),
      { resourceVersion: "10", needsList: true, fallBack: false, wait: "backoff", restart: "error" }
    ],
    [
      "a failed LIST for a transient reason still lists again",
      listing,
      SessionEnd.Failed({ ...at("listing", "10"), error: error(0, "Transport"), relist: false }),
      { resourceVersion: "10", needsList: true, fallBack: false, wait: "backoff", restart: "error" }
    ],
    [
      "a streaming list refused with 422 (WatchList gate off) falls back to pages at once",
      fresh,
      SessionEnd.Failed({ ...at("initial-events", ""), error: error(422, "Invalid"), relist: true }),
      { resourceVersion: "", needsList: true, fallBack: true, wait: "none", restart: undefined }
    ],
    [
      "a streaming list refused with 400 falls back",
      fresh,
      SessionEnd.Failed({ ...at("initial-events", ""), error: error(400, "BadRequest"), relist: true }),
      { resourceVersion: "", needsList: true, fallBack: true, wait: "none", restart: undefined }
    ],
    [
      "an ERROR event in a streaming list (e.g. no RequestWatchProgress in etcd) falls back",
      listing,
      SessionEnd.Failed({ ...at("initial-events", "10"), error: error(500, "InternalError"), relist: true }),
      { resourceVersion: "10", needsList: true, fallBack: true, wait: "none", restart: undefined }
    ],
    [
      "a streaming list cut by the network is retried after a backoff, not given up",
      fresh,
      SessionEnd.Failed({ ...at("initial-events", ""), error: error(0, "Transport"), relist: false }),
      { resourceVersion: "", needsList: true, fallBack: false, wait: "backoff", restart: "error" }
    ],
    [
      "a streaming list that stays silent past the idle timeout falls back (a server that serves one sends its end at once)",
      fresh,
      SessionEnd.Failed({ ...at("initial-events", ""), error: error(0, "IdleTimeout"), relist: false }),
      { resourceVersion: "", needsList: true, fallBack: true, wait: "none", restart: undefined }
    ],
    [
      "a streaming list forbidden (403: RBAC, or its cache after an API server restart) is retried after a backoff with the RBAC warning",
      fresh,
      SessionEnd.Failed({ ...at("initial-events", ""), error: error(403, "Forbidden"), relist: true }),
      { resourceVersion: "", needsList: true, fallBack: false, wait: "backoff", restart: "error" }
    ],
    [
      "a throttled streaming list (429) is retried after a backoff",
      fresh,
      SessionEnd.Failed({ ...at("initial-events", ""), error: error(429, "TooManyRequests"), relist: false }),
      { resourceVersion: "", needsList: true, fallBack: false, wait: "backoff", restart: "error" }
    ],
    [
      "a failure after a streaming list completed is a watch failure",
      watching,
      SessionEnd.Failed({ ...at("watching", "44"), error: error(0, "Transport"), relist: false }),
      { resourceVersion: "44", needsList: false, fallBack: false, wait: "backoff", restart: "error" }
    ]
  ]
  for (const [label, cursor, end, expected] of rows) {
    it(label, () => {
      expect(summary(nextStep(cursor, end, NOW))).toEqual(expected)
    })
  }

  it("a refusal is logged once as information, a forbidden request as an RBAC warning", () => {
    const refused = nextStep(fresh, SessionEnd.Failed({ ...at("initial-events", ""), error: error(422, "Invalid"), relist: true }), NOW)
    expect(refused.note).toMatchObject({ level: "Info", fields: { status: 422 } })
    const forbidden = nextStep(listing, SessionEnd.Failed({ ...at("listing", "10"), error: error(403, "Forbidden"), relist: true }), NOW)
    expect(forbidden.note?.level).toBe("Warning")
    expect(forbidden.note?.message).toContain("RBAC")
  })

  it("a refusal during a retried streaming list is remembered from the new time", () => {
    const cursor: Cursor = { ...listing, streamingListRefusedAt: 5 }
    const next = nextStep(cursor, SessionEnd.Failed({ ...at("initial-events", "10"), error: error(422, "Invalid"), relist: true }), NOW)
    expect(next.cursor.streamingListRefusedAt).toBe(NOW)
  })
})

describe("cursor -> how the next session starts", () => {
  const retry = Duration.toMillis(STREAMING_LIST_RETRY)
  const rows: ReadonlyArray<readonly [string, Cursor, number, boolean, ReturnType<typeof sessionStart>]> = [
    ["the first list is a streaming list from the latest", initialCursor, 0, true, {
      _tag: "List",
      kind: "streaming",
      resourceVersion: ""
    }],
    ["a relist streams from at least the last resourceVersion", {
      resourceVersion: "30",
      needsList: true,
      streamingListRefusedAt: undefined
    }, 0, true, { _tag: "List", kind: "streaming", resourceVersion: "30" }],
    ["no list needed: a watch from the cursor", {
      resourceVersion: "30",
      needsList: false,
      streamingListRefusedAt: 5
    }, 6, true, { _tag: "Watch", resourceVersion: "30" }],
    ["after a refusal, lists are paginated", { resourceVersion: "", needsList: true, streamingListRefusedAt: 1000 }, 1000, true, {
      _tag: "List",
      kind: "paginated",
      resourceVersion: ""
    }],
    ["still paginated just before the retry time", {
      resourceVersion: "30",
      needsList: true,
      streamingListRefusedAt: 1000
    }, 1000 + retry - 1, true, { _tag: "List", kind: "paginated", resourceVersion: "30" }],
    ["streaming is tried again once the retry time has passed", {
      resourceVersion: "30",
      needsList: true,
      streamingListRefusedAt: 1000
    }, 1000 + retry, true, { _tag: "List", kind: "streaming", resourceVersion: "30" }],
    ["streaming lists turned off: always paginated", initialCursor, 0, false, {
      _tag: "List",
      kind: "paginated",
      resourceVersion: ""
    }]
  ]
  for (const [label, cursor, now, streamingList, expected] of rows) {
    it(label, () => {
      expect(sessionStart(cursor, now, streamingList)).toEqual(expected)
    })
  }
})
