import { Duration, Effect, Layer, Queue, Stream } from "effect"
import { KubeApi, KubeApiError } from "../../src/kube/KubeApi.ts"

/**
 * A Kubernetes API whose pod list is `items` and whose watches stay open,
 * carrying exactly the lines the test pushes: a watch the test stops
 * pushing to is a watch that went quiet without closing. The list can come
 * in several pages, each taking `pageDelay` (a big, slow list).
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
      stream: () =>
        Stream.suspend(() => {
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
