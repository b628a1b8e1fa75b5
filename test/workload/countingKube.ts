import { Effect, Layer } from "effect"
import { KubeApi, type KubeApiError, type ReadOptions } from "../../src/kube/KubeApi.ts"
import type { ObjectMeta } from "../../src/kube/ObjectMeta.ts"
import { fakeKubeApi } from "../support/fakeKube.ts"
import { fixedWorkloadWatches } from "../support/workloadWatches.ts"

/** One GET as the resolver made it: the path and the representation asked for. */
export interface RecordedRead {
  readonly path: string
  readonly as: ReadOptions["as"]
}

/**
 * The scripted fake KubeApi, wrapped to record every GET path (to count API
 * calls) with the representation asked for, and to answer chosen paths with
 * an error other than 404. `objects` and `failures` stay mutable so a test
 * can change the cluster between calls (delete, recreate under a new uid).
 * `watched` is what the workload watch caches hold (nothing by default, so
 * every watched kind is read by GET).
 */
export const countingKubeApi = (
  objects: Map<string, unknown>,
  failures: Map<string, KubeApiError> = new Map(),
  watched: ReadonlyArray<ObjectMeta> = []
) => {
  const fake = fakeKubeApi({ lists: [], watches: [], objects })
  const gets: Array<string> = []
  const reads: Array<RecordedRead> = []
  const layer = Layer.effect(
    KubeApi,
    Effect.map(KubeApi, (inner) => ({
      ...inner,
      getJson: (path: string, query: Readonly<Record<string, string | undefined>>, options?: ReadOptions) =>
        Effect.suspend(() => {
          gets.push(path)
          reads.push({ path, as: options?.as })
          const failure = failures.get(path)
          return failure === undefined ? inner.getJson(path, query, options) : Effect.fail(failure)
        })
    }))
  ).pipe(Layer.provide(fake.layer), Layer.merge(fixedWorkloadWatches(watched)))
  return { layer, gets, reads, objects, failures }
}

/** The count of GETs of one path. */
export const getsOf = (gets: ReadonlyArray<string>, path: string): number => gets.filter((p) => p === path).length
