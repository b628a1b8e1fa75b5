import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"

// Realistic pods for the benchmarks: the 7.8 KB test fixture (a Deployment
// pod with managedFields, annotations, an init container and a sidecar),
// varied per index so no two pods share names, uids or digests.
const fixture = JSON.parse(
  readFileSync(new URL("../../test/fixtures/pod.json", import.meta.url), "utf8")
) as Record<string, any>

/** The fixture's owner uid (also in its managedFields), before makePod gives each workload its own. */
export const FIXTURE_OWNER_UID: string = fixture.metadata.ownerReferences[0].uid

/** A sha256 in hex: stable made-up digests, hashes and uids. */
export const hex = (seed: string) => createHash("sha256").update(seed).digest("hex")

/** A uid-shaped string from a seed. */
export const uidOf = (seed: string) => {
  const h = hex(seed)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/**
 * An object's uid, the same wherever the object is named: a pod's owner
 * reference and the ReplicaSet served for it agree, and no two workloads
 * share an owner uid (the controller shares attributions by owner uid).
 */
const objectUid = (kind: string, namespace: string, name: string) => uidOf(`${kind}/${namespace}/${name}`)

export interface PodVariant {
  readonly index: number
  readonly phase: "Pending" | "Running"
  readonly resourceVersion: number
  /** Pods per workload: pods of one workload share an owner. */
  readonly podsPerWorkload?: number
}

export const makePod = ({ index, phase, podsPerWorkload = 1, resourceVersion }: PodVariant): Record<string, any> => {
  const pod = structuredClone(fixture)
  const workload = Math.floor(index / podsPerWorkload)
  const replicaSet = `svc-${workload}-7d9f8c6b5d`
  pod.metadata.name = `${replicaSet}-${index.toString(36).padStart(5, "0")}`
  pod.metadata.namespace = `team-${workload % 50}`
  pod.metadata.uid = `${hex(`uid-${index}`).slice(0, 8)}-0000-4000-8000-${hex(`uid-${index}`).slice(8, 20)}`
  pod.metadata.resourceVersion = String(resourceVersion)
  pod.metadata.generateName = `${replicaSet}-`
  pod.metadata.ownerReferences[0].name = replicaSet
  pod.metadata.ownerReferences[0].uid = objectUid("ReplicaSet", pod.metadata.namespace, replicaSet)
  pod.status.phase = phase
  for (const status of [...(pod.status.containerStatuses ?? []), ...(pod.status.initContainerStatuses ?? [])]) {
    status.imageID = `${String(status.image).replace(/:[^/:]+$/, "")}@sha256:${hex(`${workload}-${status.name}`)}`
  }
  return pod
}

/** One NDJSON watch line. */
export const watchLine = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`

const REPLICA_SET_PATH = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/replicasets\/([^/]+)$/

/**
 * What the API server would answer for a benchmark pod's owner: its
 * ReplicaSet (same uid as the pod's owner reference), owned by the
 * Deployment of the same name without the hash. Undefined for other paths.
 */
const DEPLOYMENT_PATH = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)$/

export const ownerObject = (path: string): Record<string, unknown> | undefined => {
  const deployment = DEPLOYMENT_PATH.exec(path)
  if (deployment !== null) {
    const [, namespace, name] = deployment as unknown as [string, string, string]
    return { apiVersion: "meta.k8s.io/v1", kind: "PartialObjectMetadata", metadata: { name, namespace, uid: objectUid("Deployment", namespace, name) } }
  }
  const match = REPLICA_SET_PATH.exec(path)
  if (match === null) return undefined
  const [, namespace, name] = match as unknown as [string, string, string]
  const deploymentName = name.replace(/-[^-]+$/, "")
  return {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: {
      name,
      namespace,
      uid: objectUid("ReplicaSet", namespace, name),
      ownerReferences: [{
        apiVersion: "apps/v1",
        kind: "Deployment",
        name: deploymentName,
        uid: objectUid("Deployment", namespace, deploymentName),
        controller: true
      }]
    }
  }
}
