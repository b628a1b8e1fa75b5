import { Effect, Layer, Option } from "effect"
import { controllingOwner } from "../controller/eventRules.ts"
import { KubeApi } from "../kube/KubeApi.ts"
import type { SlimPod } from "../kube/SlimPod.ts"
import { type Workload, WorkloadResolver } from "./Workload.ts"

/** Where each supported workload kind lives in the API. */
const COLLECTIONS: Readonly<Record<string, string>> = {
  Deployment: "/apis/apps/v1/namespaces/{ns}/deployments",
  DaemonSet: "/apis/apps/v1/namespaces/{ns}/daemonsets",
  StatefulSet: "/apis/apps/v1/namespaces/{ns}/statefulsets",
  Job: "/apis/batch/v1/namespaces/{ns}/jobs"
}

/**
 * A ReplicaSet made by a Deployment is named `<deployment>-<pod-template-hash>`.
 * This first resolver derives the Deployment from that name, as the Go
 * original does; the owner-chain resolver replaces it.
 */
const deploymentOfReplicaSet = (replicaSet: string): string | undefined => {
  const cut = replicaSet.lastIndexOf("-")
  return cut > 0 ? replicaSet.slice(0, cut) : undefined
}

/** The pod's workload from its controlling owner reference, without API calls. */
export const workloadOf = (pod: SlimPod): Workload | undefined => {
  const owner = controllingOwner(pod)
  if (owner === undefined) return undefined
  switch (owner.kind) {
    case "ReplicaSet": {
      const name = deploymentOfReplicaSet(owner.name)
      return name === undefined ? undefined : { kind: "Deployment", name, namespace: pod.namespace }
    }
    case "DaemonSet":
    case "StatefulSet":
    case "Job":
      return { kind: owner.kind, name: owner.name, namespace: pod.namespace }
    default:
      return undefined
  }
}

export const OwnerReferenceResolverLive = Layer.effect(
  WorkloadResolver,
  Effect.gen(function*() {
    const api = yield* KubeApi
    return {
      resolve: (pod) => Effect.succeed(Option.fromNullable(workloadOf(pod))),
      isActive: (workload) => {
        const collection = COLLECTIONS[workload.kind]
        if (collection === undefined) return Effect.succeed(false)
        const path = `${collection.replace("{ns}", encodeURIComponent(workload.namespace))}/${
          encodeURIComponent(workload.name)
        }`
        return api.getJson(path, {}).pipe(
          Effect.map((object) => {
            const metadata = (object as { metadata?: { deletionTimestamp?: unknown } }).metadata
            // Being deleted (foreground cascading deletion keeps the object
            // until its pods are gone) counts as gone.
            return metadata?.deletionTimestamp === undefined || metadata.deletionTimestamp === null
          }),
          Effect.catchIf((e) => e.status === 404, () => Effect.succeed(false))
        )
      }
    }
  })
)
