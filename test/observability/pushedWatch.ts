import { Duration, Effect, Layer, Queue, Stream } from "effect"
import { KubeApi, KubeApiError } from "../../src/kube/KubeApi.ts"
import { watchListForbidden } from "../support/fakeKube.ts"

/**
 * A Kubernetes API whose pod list is `items` and whose watches stay open,
 * carrying exactly the lines the test pushes: a watch the test stops
 * pushing to is a watch that went quiet without closing. The list can come
 * in several pages, each taking `pageDelay` (a big, slow list). Streaming
 * lists are refused (the WatchList feature gate off), as by older servers.
 */
export const pushedWatch = (
  items: ReadonlyArray<unknown> = [],
  options: { readonly pages?: number; readonly pageDelay?: Duration.DurationInput } = {}
) =>
  Effect.gen(function*() {
    const lines = yield* Queue.unbounded<Uint8Array>()
    let lists = 0
    let watches = 0
    const layer = Layer.succeed(KubeApi, {
      server: "https://fake",
      send: () => Effect.fail(new KubeApiError({ status: 405, reason: "MethodNotAllowed", message: "no writes" })),
      getJson: (_path, query) =>
        Effect.gen(function*() {
          lists++
          yield* Effect.sleep(options.pageDelay ?? 0)
          const page = Number(query.continue ?? "1")
          const last = page >= (options.pages ?? 1)
          return {
            kind: "PodList",
            metadata: { resourceVersion: "10", continue: last ? undefined : String(page + 1) },
            items: last ? items : []
          }
        }),
      stream: (_path, query) =>
        Stream.suspend(() => {
          if (query["sendInitialEvents"] === "true") return Stream.fail(watchListForbidden())
          watches++
          return Stream.fromQueue(lines)
        })
    })
    return {
      layer,
      push: (line: string) => Queue.offer(lines, new TextEncoder().encode(line)),
      lists: () => lists,
      watches: () => watches
    }
  })
