import { describe, expect, it } from "@effect/vitest"
import { parseWatchLine, type WatchLine } from "../../src/kube/watchLine.ts"

const pod = { kind: "Pod", metadata: { name: "a", resourceVersion: "7" } }
const line = (event: unknown) => JSON.stringify(event)

describe("parseWatchLine", () => {
  const rows: ReadonlyArray<readonly [string, string, WatchLine]> = [
    ["an empty line (between events)", "", { _tag: "Blank" }],
    ["ADDED", line({ type: "ADDED", object: pod }), { _tag: "Change", type: "ADDED", object: pod }],
    ["MODIFIED", line({ type: "MODIFIED", object: pod }), { _tag: "Change", type: "MODIFIED", object: pod }],
    ["DELETED", line({ type: "DELETED", object: pod }), { _tag: "Change", type: "DELETED", object: pod }],
    [
      "an object that is not a pod stays a change (the projection judges it)",
      line({ type: "ADDED", object: 42 }),
      { _tag: "Change", type: "ADDED", object: 42 }
    ],
    [
      "a bookmark",
      line({ type: "BOOKMARK", object: { kind: "Pod", metadata: { resourceVersion: "15" } } }),
      { _tag: "Bookmark", resourceVersion: "15", initialEventsEnd: false }
    ],
    [
      "the bookmark that ends a streaming list's initial events",
      line({
        type: "BOOKMARK",
        object: { kind: "Pod", metadata: { resourceVersion: "40", annotations: { "k8s.io/initial-events-end": "true" } } }
      }),
      { _tag: "Bookmark", resourceVersion: "40", initialEventsEnd: true }
    ],
    [
      "a bookmark whose end annotation is not \"true\"",
      line({
        type: "BOOKMARK",
        object: { metadata: { resourceVersion: "40", annotations: { "k8s.io/initial-events-end": "false" } } }
      }),
      { _tag: "Bookmark", resourceVersion: "40", initialEventsEnd: false }
    ],
    [
      "a bookmark without a resourceVersion",
      line({ type: "BOOKMARK", object: { metadata: {} } }),
      { _tag: "Bookmark", resourceVersion: "", initialEventsEnd: false }
    ],
    [
      "a bookmark without an object",
      line({ type: "BOOKMARK" }),
      { _tag: "Bookmark", resourceVersion: "", initialEventsEnd: false }
    ],
    [
      "an ERROR event with its Status",
      line({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version: 5 (9)" } }),
      { _tag: "Status", code: 410, reason: "Expired", message: "too old resource version: 5 (9)" }
    ],
    [
      "an ERROR event without a Status",
      line({ type: "ERROR" }),
      { _tag: "Status", code: 0, reason: "", message: "watch error" }
    ],
    ["an event type this client does not know", line({ type: "SURPRISE", object: pod }), { _tag: "Unknown", type: "SURPRISE" }]
  ]
  for (const [label, input, expected] of rows) {
    it(label, () => {
      expect(parseWatchLine(input)).toEqual(expected)
    })
  }

  const unreadable: ReadonlyArray<readonly [string, string, string]> = [
    ["truncated JSON", "{\"type\":\"ADDED\",\"obj", "undecodable watch line"],
    ["not JSON at all", "<html>502 Bad Gateway</html>", "undecodable watch line"],
    ["JSON that is not an object", "42", "watch line is not an event"],
    ["a JSON array", "[1,2]", "watch event has no type"],
    ["JSON null", "null", "watch line is not an event"],
    ["an event without a type", line({ object: pod }), "watch event has no type"]
  ]
  for (const [label, input, reason] of unreadable) {
    it(`${label} is unreadable, never thrown`, () => {
      const parsed = parseWatchLine(input)
      expect(parsed._tag).toBe("Unreadable")
      expect(parsed._tag === "Unreadable" && parsed.reason.startsWith(reason)).toBe(true)
    })
  }

  it("an unreadable line is quoted only in part (a watch line can be megabytes)", () => {
    const parsed = parseWatchLine(`{${"x".repeat(10_000)}`)
    expect(parsed._tag === "Unreadable" && parsed.reason.length).toBeLessThan(200)
  })
})
