import { Stream } from "effect"
import { KubeApiError, type Query } from "../../src/kube/KubeApi.ts"

// The benchmarks' API stand-ins and streaming lists (a small module of its
// own: watchDecode must not load the controller).

/** A watch that asks for a streaming list (`sendInitialEvents=true`). */
export const isStreamingList = (query: Query): boolean => query["sendInitialEvents"] === "true"

/**
 * What a server without streaming lists (the WatchList feature gate off)
 * answers one: the reflector then lists by pages and watches.
 */
export const streamingListRefused = Stream.fail(
  new KubeApiError({ status: 422, reason: "Invalid", message: "sendInitialEvents is forbidden for watch" })
)
