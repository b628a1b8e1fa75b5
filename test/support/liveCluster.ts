import { Effect, Queue, Stream } from "effect"
import type { ListAnswer, WatchAnswer } from "./fakeKube.ts"
import { metaJson, namespaceJson, podJson, watchLine } from "./fakeKube.ts"

// A scripted cluster whose watches the test drives while the controller
// runs: each collection starts with a list of the given objects, then its
// watch delivers what the test pushes, in order. Workload objects pushed
// are also what a GET of them answers (until deleted), as on a real server.

export const COLLECTIONS = {
  Deployment: "/apis/apps/v1/deployments",
  DaemonSet: "/apis/apps/v1/daemonsets",
  StatefulSet: "/apis/apps/v1/statefulsets",
  Job: "/apis/batch/v1/jobs",
  CronJob: "/apis/batch/v1/cronjobs"
} as const

export type WatchedKind = keyof typeof COLLECTIONS

const PLURALS: Readonly<Record<string, string>> = {
  Deployment: "apps/v1/namespaces/default/deployments",
  DaemonSet: "apps/v1/namespaces/default/daemonsets",
  StatefulSet: "apps/v1/namespaces/default/statefulsets",
  Job: "batch/v1/namespaces/default/jobs",
  CronJob: "batch/v1/namespaces/default/cronjobs",
  ReplicaSet: "apps/v1/namespaces/default/replicasets"
}

/** The GET path of an object in the `default` namespace. */
export const objectPath = (kind: string, name: string): string => `/apis/${PLURALS[kind]}/${name}`

type Json = { metadata: { name: string; resourceVersion?: string } & Record<string, unknown> } & Record<string, unknown>

export interface LiveWatch {
  readonly added: (object: Json) => Effect.Effect<void>
  readonly modified: (object: Json) => Effect.Effect<void>
  readonly deleted: (object: Json) => Effect.Effect<void>
}

export interface LiveCluster {
  /** The Namespaces watch (metadata only): the cluster starts with `default` unless told otherwise. */
  readonly namespaces: LiveWatch
  /** For `startController`. */
  readonly script: {
    lists: Array<ListAnswer>
    watches: Array<WatchAnswer>
    objects: Map<string, unknown>
    collections: Map<string, { lists: Array<ListAnswer>; watches: Array<WatchAnswer> }>
  }
  readonly pods: LiveWatch
  readonly workloads: (kind: WatchedKind) => LiveWatch
  /** Objects only a GET finds (ReplicaSets, custom owners): set or remove. */
  readonly objects: Map<string, unknown>
}

export const liveCluster = (initial: {
  readonly namespaces?: ReadonlyArray<Json>
  readonly pods?: ReadonlyArray<Json>
  readonly workloads?: Partial<Record<WatchedKind, ReadonlyArray<Json>>>
  readonly objects?: ReadonlyArray<readonly [string, unknown]>
} = {}): Effect.Effect<LiveCluster> =>
  Effect.gen(function*() {
    let resourceVersion = 100
    const objects = new Map<string, unknown>(initial.objects ?? [])
    const watchOf = (onChange: (type: string, object: Json) => void) =>
      Effect.map(Queue.unbounded<string>(), (lines) => {
        const push = (type: string) => (object: Json) =>
          Effect.suspend(() => {
            const stamped = { ...object, metadata: { ...object.metadata, resourceVersion: String(++resourceVersion) } }
            onChange(type, stamped)
            return Queue.offer(lines, watchLine(type, stamped))
          })
        return {
          stream: Stream.fromQueue(lines),
          watch: { added: push("ADDED"), modified: push("MODIFIED"), deleted: push("DELETED") } satisfies LiveWatch
        }
      })

    const podWatch = yield* watchOf(() => undefined)
    const collections = new Map<string, { lists: Array<ListAnswer>; watches: Array<WatchAnswer> }>()
    const workloadWatches = new Map<WatchedKind, LiveWatch>()
    for (const kind of Object.keys(COLLECTIONS) as Array<WatchedKind>) {
      const items = initial.workloads?.[kind] ?? []
      for (const item of items) objects.set(objectPath(kind, item.metadata.name), item)
      const live = yield* watchOf((type, object) => {
        const path = objectPath(kind, object.metadata.name)
        if (type === "DELETED") objects.delete(path)
        else objects.set(path, object)
      })
      collections.set(COLLECTIONS[kind], { lists: [{ items: [...items], rv: "100" }], watches: [live.stream] })
      workloadWatches.set(kind, live.watch)
    }
    const namespaceWatch = yield* watchOf(() => undefined)
    collections.set("/api/v1/namespaces", {
      lists: [{ items: [...(initial.namespaces ?? [namespaceJson("default") as Json])], rv: "100" }],
      watches: [namespaceWatch.stream]
    })
    return {
      script: { lists: [{ items: [...(initial.pods ?? [])], rv: "100" }], watches: [podWatch.stream], objects, collections },
      namespaces: namespaceWatch.watch,
      pods: podWatch.watch,
      workloads: (kind) => workloadWatches.get(kind)!,
      objects
    }
  })

/** A Deployment's pod: owned by its ReplicaSet `<deployment>-<hash>`, with the pod-template-hash label. */
export const deploymentPod = (
  deployment: string,
  pod: string,
  options: Omit<NonNullable<Parameters<typeof podJson>[1]>, "owner"> & { readonly hash?: string } = {}
): Json => {
  const hash = options.hash ?? "5d8f7c9b4"
  const json = podJson(pod, { ...options, owner: { kind: "ReplicaSet", name: `${deployment}-${hash}`, uid: `uid-rs-${deployment}-${hash}` } })
  return { ...json, metadata: { ...json.metadata, labels: { "pod-template-hash": hash } } }
}

/** A watched workload object (metadata only). */
export const workload = (name: string, options: NonNullable<Parameters<typeof metaJson>[2]> & { readonly uid?: string } = {}): Json =>
  metaJson(name, options.uid ?? `uid-${name}`, options) as Json

/** The pod with its owner references removed, as the garbage collector leaves an orphan. */
export const orphaned = (pod: Json): Json => ({ ...pod, metadata: { ...pod.metadata, ownerReferences: undefined } })

/** The pod marked for deletion (a deletion timestamp), as the kubelet sees it before it goes. */
export const terminating = (pod: Json): Json => ({ ...pod, metadata: { ...pod.metadata, deletionTimestamp: "2026-11-24T10:00:01Z" } })

/** A Namespace with annotations (metadata only). */
export const namespace = (name: string, annotations?: Readonly<Record<string, string>>): Json =>
  namespaceJson(name, annotations === undefined ? {} : { annotations }) as Json
