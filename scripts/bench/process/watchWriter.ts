// Writes one watch response: newline-delimited JSON events, with
// backpressure (lines are gathered into chunks of about 64 KiB; when the
// socket's buffer is full the writer waits for 'drain', so a slow tracker
// slows the stand-in instead of growing its memory), bookmarks while the
// watch is caught up, and the server-side deadline (`timeoutSeconds`).
import type { ServerResponse } from "node:http"
import type { PodEvent, PodStore } from "./podStore.ts"

const CHUNK_BYTES = 64 * 1024
/** Events rendered between two looks at the socket and the clock. */
const EVENTS_PER_TURN = 256

export interface WatchPlan {
  /** Synthetic ADDED lines (a watch from "now", or a streaming list), and the end-of-initial-events bookmark. */
  readonly initialLines: Iterable<string>
  /** Pods only: where in the event log the watch goes on, and how an event is rendered (undefined: filtered out). */
  readonly events?: {
    readonly store: PodStore
    readonly position: number
    readonly render: (event: PodEvent) => string | undefined
    readonly written: (event: PodEvent) => void
  }
  /** A BOOKMARK line at the current progress, or undefined when the client did not ask for bookmarks. */
  readonly bookmark: (() => string) | undefined
  readonly bookmarkMillis: number
  readonly timeoutSeconds: number
  /** A line written when the watcher fell behind the kept history (410 in the stream). */
  readonly expiredLine: string
  readonly countBytes: (bytes: number) => void
}

/** Resolves on 'drain' or 'close', whichever comes first, leaving no listener behind. */
export const drained = (res: ServerResponse) =>
  new Promise<void>((resolve) => {
    const done = () => {
      res.off("drain", done)
      res.off("close", done)
      resolve()
    }
    res.on("drain", done)
    res.on("close", done)
  })

export const serveWatch = async (res: ServerResponse, plan: WatchPlan): Promise<void> => {
  let closed = false
  let wake: (() => void) | undefined
  const wakeUp = () => wake?.()
  res.on("close", () => {
    closed = true
    wakeUp()
  })
  res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache, private" })
  // Sends the headers now: a watch with nothing to say yet is still open.
  res.flushHeaders()

  let pending: Array<string> = []
  let pendingBytes = 0
  const flush = async () => {
    if (pending.length === 0 || closed) return
    const chunk = pending.join("")
    pending = []
    pendingBytes = 0
    plan.countBytes(chunk.length)
    if (!res.write(chunk)) await drained(res)
  }
  const write = async (line: string) => {
    pending.push(line)
    pendingBytes += line.length
    if (pendingBytes >= CHUNK_BYTES) await flush()
  }

  for (const line of plan.initialLines) {
    if (closed) return
    await write(line)
  }
  await flush()

  const deadline = Date.now() + plan.timeoutSeconds * 1000
  let nextBookmark = Date.now() + plan.bookmarkMillis
  const unsubscribe = plan.events?.store.onAppend(wakeUp)
  let position = plan.events?.position ?? 0
  try {
    while (!closed && Date.now() < deadline) {
      const events = plan.events
      if (events !== undefined && position < events.store.logEnd) {
        for (let n = 0; n < EVENTS_PER_TURN && position < events.store.logEnd && !closed; n++) {
          const event = events.store.event(position++)
          if (event === undefined) {
            // Fell behind what the log keeps: the real server ends such a watch with 410.
            await write(plan.expiredLine)
            await flush()
            return
          }
          const line = events.render(event)
          if (line !== undefined) {
            await write(line)
            events.written(event)
          }
        }
        if (position >= events.store.logEnd) await flush()
        continue
      }
      await flush()
      if (plan.bookmark !== undefined && Date.now() >= nextBookmark) {
        await write(plan.bookmark())
        await flush()
        nextBookmark = Date.now() + plan.bookmarkMillis
      }
      const waitMillis = Math.max(1, Math.min(deadline, plan.bookmark === undefined ? deadline : nextBookmark) - Date.now())
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMillis)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      wake = undefined
    }
  } finally {
    unsubscribe?.()
    if (!closed) {
      await flush()
      res.end()
    }
  }
}
