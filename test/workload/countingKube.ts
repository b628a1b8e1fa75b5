import { Effect, Layer } from "effect"
import { KubeApi, type KubeApiError } from "../../src/kube/KubeApi.ts"
import { fakeKubeApi } from "../support/fakeKube.ts"

/**
 * The scripted fake KubeApi, wrapped to record every GET path (to count API
 * calls) and to answer chosen paths with an error other than 404.
 * `objects` and `failures` stay mutable so a test can change the cluster
 * between calls (delete, recreate under a new uid).
 */
export const countingKubeApi = (objects: Map<string, unknown>, failures: Map<string, KubeApiError> = new Map()) => {
  const fake = fakeKubeApi({ lists: [], watches: [], objects })
  const gets: Array<string> = []
  const layer = Layer.effect(
    KubeApi,
    Effect.map(KubeApi, (inner) => ({
      ...inner,
      getJson: (path: string, query: Readonly<Record<string, string | undefined>>) =>
        Effect.suspend(() => {
          gets.push(path)
          const failure = failures.get(path)
          return failure === undefined ? inner.getJson(path, query) : Effect.fail(failure)
        })
    }))
  ).pipe(Layer.provide(fake.layer))
  return { layer, gets, objects, failures }
}

/** The count of GETs of one path. */
export const getsOf = (gets: ReadonlyArray<string>, path: string): number => gets.filter((p) => p === path).length
