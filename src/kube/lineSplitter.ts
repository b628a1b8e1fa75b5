import { Buffer } from "node:buffer"
import { Channel, Chunk, Stream } from "effect"

// A watch body is newline-delimited JSON. Lines are found in the bytes
// (UTF-8 never has 0x0A inside a multi-byte character) and each is decoded
// once, by Buffer's native decoder: decoding whole chunks with TextDecoder
// and splitting the text cost about 15 µs of CPU per 8 KB pod event
// (process benchmark profile), and made a chunk-sized string per read.

const NEWLINE = 0x0a
const CARRIAGE_RETURN = 0x0d

export interface LineSplitter {
  /** The lines these bytes complete, in order; a partial last line waits for the next bytes. */
  readonly push: (bytes: Uint8Array) => Array<string>
  /** The body ended: its last line if it had no newline. */
  readonly end: () => Array<string>
}

const decode = (bytes: Buffer, from: number, to: number): string =>
  // "\r\n" endings: the carriage return is not part of the line.
  bytes.toString("utf8", from, to > from && bytes[to - 1] === CARRIAGE_RETURN ? to - 1 : to)

export const makeLineSplitter = (): LineSplitter => {
  /** Pieces of a line that started in earlier reads. */
  let partial: Array<Buffer> = []
  return {
    push: (input) => {
      const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength)
      const lines: Array<string> = []
      let from = 0
      let newline = bytes.indexOf(NEWLINE, from)
      while (newline !== -1) {
        if (partial.length === 0) {
          lines.push(decode(bytes, from, newline))
        } else {
          partial.push(bytes.subarray(from, newline))
          const joined = Buffer.concat(partial)
          partial = []
          lines.push(decode(joined, 0, joined.length))
        }
        from = newline + 1
        newline = bytes.indexOf(NEWLINE, from)
      }
      // Copied: the reader may reuse its buffer for the next read.
      if (from < bytes.length) partial.push(Buffer.from(bytes.subarray(from)))
      return lines
    },
    end: () => {
      if (partial.length === 0) return []
      const joined = Buffer.concat(partial)
      partial = []
      return [decode(joined, 0, joined.length)]
    }
  }
}

/** A byte stream as its lines (a last line without a newline included). */
export const splitLines = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<string, E, R> =>
  Stream.suspend(() => {
    const splitter = makeLineSplitter()
    const loop: Channel.Channel<Chunk.Chunk<string>, Chunk.Chunk<Uint8Array>, E, E, void, unknown> = Channel.readWithCause({
      onInput: (chunk: Chunk.Chunk<Uint8Array>) => {
        const lines: Array<string> = []
        for (const piece of chunk) for (const line of splitter.push(piece)) lines.push(line)
        return lines.length === 0 ? loop : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(lines)), loop)
      },
      onFailure: Channel.failCause,
      onDone: () => {
        const last = splitter.end()
        return last.length === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(last))
      }
    })
    return Stream.pipeThroughChannelOrFail(bytes, loop)
  })
