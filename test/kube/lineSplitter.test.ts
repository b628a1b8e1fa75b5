import { Chunk, Effect, Stream } from "effect"
import { describe, expect, it } from "@effect/vitest"
import { makeLineSplitter, splitLines } from "../../src/kube/lineSplitter.ts"

const bytes = (text: string) => new TextEncoder().encode(text)

/** Feeds the pieces in order; every line pushed or ended, in order. */
const linesOf = (pieces: ReadonlyArray<Uint8Array>) => {
  const splitter = makeLineSplitter()
  return [...pieces.flatMap((piece) => splitter.push(piece)), ...splitter.end()]
}

describe("lineSplitter", () => {
  it.each([
    { name: "one line per read", pieces: ["{\"a\":1}\n", "{\"b\":2}\n"], lines: ["{\"a\":1}", "{\"b\":2}"] },
    { name: "many lines in one read", pieces: ["a\nb\nc\n"], lines: ["a", "b", "c"] },
    { name: "a line over three reads", pieces: ["ab", "cd", "ef\ng\n"], lines: ["abcdef", "g"] },
    { name: "a newline alone in a read", pieces: ["abc", "\n", "d\n"], lines: ["abc", "d"] },
    { name: "CRLF endings", pieces: ["a\r\nb\r", "\nc\n"], lines: ["a", "b", "c"] },
    { name: "blank lines are lines", pieces: ["\n\na\n"], lines: ["", "", "a"] },
    { name: "a last line without a newline", pieces: ["a\nb"], lines: ["a", "b"] },
    { name: "nothing", pieces: [], lines: [] },
    { name: "an empty read", pieces: ["", "a\n", ""], lines: ["a"] }
  ])("$name", ({ lines, pieces }) => {
    expect(linesOf(pieces.map(bytes))).toEqual(lines)
  })

  it("a multi-byte character split between reads is decoded whole", () => {
    const text = bytes("{\"name\":\"café ✓ 日本\"}\n")
    for (let cut = 1; cut < text.length; cut++) {
      expect(linesOf([text.subarray(0, cut), text.subarray(cut)])).toEqual(["{\"name\":\"café ✓ 日本\"}"])
    }
  })

  it("keeps a partial line when the reader reuses its buffer", () => {
    const splitter = makeLineSplitter()
    const buffer = bytes("xyz\nabc")
    expect(splitter.push(buffer)).toEqual(["xyz"])
    buffer.fill(0x21)
    expect(splitter.push(bytes("def\n"))).toEqual(["abcdef"])
  })

  it.effect("as a stream operator: lines across chunks, the last one flushed at the end", () =>
    Effect.gen(function*() {
      const body = Stream.fromChunks(Chunk.make(bytes("{\"a\""), bytes(":1}\n{\"b\":")), Chunk.make(bytes("2}")))
      expect(Chunk.toReadonlyArray(yield* Stream.runCollect(splitLines(body)))).toEqual(["{\"a\":1}", "{\"b\":2}"])
    }))

  it.effect("as a stream operator: a failure of the body is the stream's failure", () =>
    Effect.gen(function*() {
      const body = Stream.concat(Stream.make(bytes("a\n")), Stream.fail("reset" as const))
      expect(yield* Stream.runCollect(splitLines(body)).pipe(Effect.flip)).toBe("reset")
    }))
})
