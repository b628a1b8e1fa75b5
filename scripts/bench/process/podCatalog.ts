// The cluster the API server stand-in serves: Deployments `svc-N` of
// `replicas` pods each, spread over namespaces `team-0..49`, each owning one
// ReplicaSet `svc-N-<hash>`. Pods are the 7.8 KB fixture (scripts/bench/
// podFactory.ts) with per-Deployment owner, hash, labels and digests.
//
// A pod's JSON is never built from an object at serving time: each
// Deployment has a template (its pod JSON with placeholders for what differs
// per pod and per version), so a list page or watch event is string joins.
import { FIXTURE_OWNER_UID, hex, makePod, uidOf } from "../podFactory.ts"

/** What changes between versions of one pod. */
export interface PodVersion {
  readonly resourceVersion: number
  /** Seconds added to the Ready condition's lastTransitionTime (a status update). */
  readonly readyTick: number
  /** Image generation: bumped by a "rollout" burst, it changes every digest of the pod. */
  readonly imageGeneration: number
}

const READY_BASE_MS = Date.parse("2026-07-14T09:13:06Z")

/** Placeholders in a template: `@@NAME@@`. */
const PLACEHOLDER = /@@([A-Z_]+)@@/

type Render = (values: Readonly<Record<string, string>>) => string

/** Compiles JSON text with placeholders into a function of the placeholders' values. */
const compileTemplate = (text: string): Render => {
  const parts = text.split(PLACEHOLDER)
  return (values) => {
    let out = parts[0]!
    for (let i = 1; i < parts.length; i += 2) out += values[parts[i]!]! + parts[i + 1]!
    return out
  }
}

export interface CatalogOptions {
  readonly pods: number
  readonly replicas: number
  readonly namespaces: number
}

export interface Deployment {
  readonly index: number
  readonly name: string
  readonly namespace: string
  readonly uid: string
  readonly replicaSetName: string
  readonly replicaSetUid: string
  readonly hash: string
}

/** The fixed shape of the benchmark cluster and how to render its objects. */
export class PodCatalog {
  readonly pods: number
  readonly replicas: number
  readonly deployments: ReadonlyArray<Deployment>
  readonly #podNames: Array<string>
  readonly #podUids: Array<string>
  readonly #templates: Array<Render>
  readonly #byReplicaSet = new Map<string, Deployment>()
  readonly #byDeployment = new Map<string, Deployment>()

  constructor({ namespaces, pods, replicas }: CatalogOptions) {
    this.pods = pods
    this.replicas = replicas
    const deploymentCount = Math.ceil(pods / replicas)
    const deployments: Array<Deployment> = []
    this.#templates = []
    for (let d = 0; d < deploymentCount; d++) {
      const hash = hex(`hash-${d}`).slice(0, 10)
      const deployment: Deployment = {
        index: d,
        name: `svc-${d}`,
        namespace: `team-${d % namespaces}`,
        uid: uidOf(`deployment-${d}`),
        replicaSetName: `svc-${d}-${hash}`,
        replicaSetUid: uidOf(`replicaset-${d}`),
        hash
      }
      deployments.push(deployment)
      this.#byReplicaSet.set(`${deployment.namespace}/${deployment.replicaSetName}`, deployment)
      this.#byDeployment.set(`${deployment.namespace}/${deployment.name}`, deployment)
      this.#templates.push(compileTemplate(podTemplate(deployment, replicas)))
    }
    this.deployments = deployments
    this.#podNames = []
    this.#podUids = []
    for (let i = 0; i < pods; i++) {
      const deployment = deployments[Math.floor(i / replicas)]!
      this.#podNames.push(`${deployment.replicaSetName}-${i.toString(36).padStart(5, "0")}`)
      this.#podUids.push(uidOf(`pod-${i}`))
    }
  }

  deploymentOfPod(index: number): Deployment {
    return this.deployments[Math.floor(index / this.replicas)]!
  }

  namespaceOfPod(index: number): string {
    return this.deploymentOfPod(index).namespace
  }

  podName(index: number): string {
    return this.#podNames[index]!
  }

  /** The pod's JSON at a version. */
  renderPod(index: number, version: PodVersion): string {
    return this.#templates[Math.floor(index / this.replicas)]!({
      NAME: this.#podNames[index]!,
      UID: this.#podUids[index]!,
      RV: String(version.resourceVersion),
      READY_AT: new Date(READY_BASE_MS + version.readyTick * 1000).toISOString().replace(".000Z", "Z"),
      GEN: version.imageGeneration.toString(16).padStart(8, "0")
    })
  }

  replicaSet(namespace: string, name: string): Deployment | undefined {
    return this.#byReplicaSet.get(`${namespace}/${name}`)
  }

  deployment(namespace: string, name: string): Deployment | undefined {
    return this.#byDeployment.get(`${namespace}/${name}`)
  }
}

/** One Deployment's pod JSON, with placeholders for name, uid, resourceVersion, Ready time and image generation. */
const podTemplate = (deployment: Deployment, replicas: number): string => {
  const pod = makePod({ index: deployment.index * replicas, phase: "Running", resourceVersion: 0, podsPerWorkload: replicas })
  pod.metadata.name = "@@NAME@@"
  pod.metadata.uid = "@@UID@@"
  pod.metadata.resourceVersion = "@@RV@@"
  pod.metadata.namespace = deployment.namespace
  pod.metadata.generateName = `${deployment.replicaSetName}-`
  pod.metadata.labels["pod-template-hash"] = deployment.hash
  pod.metadata.labels["app.kubernetes.io/name"] = deployment.name
  pod.metadata.ownerReferences = [{
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    name: deployment.replicaSetName,
    uid: deployment.replicaSetUid,
    controller: true,
    blockOwnerDeletion: true
  }]
  for (const condition of pod.status.conditions) {
    if (condition.type === "Ready" || condition.type === "ContainersReady") condition.lastTransitionTime = "@@READY_AT@@"
  }
  // The same digest for every replica of a Deployment; its last 8 hex
  // digits are the image generation, so a rollout burst changes them.
  for (const status of [...pod.status.containerStatuses, ...pod.status.initContainerStatuses]) {
    status.imageID = `${String(status.imageID).slice(0, -8)}@@GEN@@`
  }
  // managedFields name the owner by uid too.
  return JSON.stringify(pod).replaceAll(FIXTURE_OWNER_UID, deployment.replicaSetUid)
}
