// JSON the API server stand-in answers with, other than pods: Status
// bodies, the metadata-only (PartialObjectMetadata) and full forms of
// Deployments and ReplicaSets, list envelopes and watch lines.
import type { Deployment } from "./podCatalog.ts"

export const status = (code: number, reason: string, message: string) => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message,
  reason,
  code
})

export const watchLine = (type: string, objectJson: string) => `{"type":"${type}","object":${objectJson}}\n`

/** A BOOKMARK: an object of the watched kind with only its resourceVersion (and the end-of-initial-events mark, if any). */
export const bookmarkLine = (kind: string, apiVersion: string, resourceVersion: number, initialEventsEnd = false) =>
  watchLine(
    "BOOKMARK",
    JSON.stringify({
      kind,
      apiVersion,
      metadata: {
        resourceVersion: String(resourceVersion),
        ...(initialEventsEnd ? { annotations: { "k8s.io/initial-events-end": "true" } } : {})
      }
    })
  )

/** Which form the client asked for, from the Accept header: the first we can serve, in its order. */
export type Form = "metadata" | "full"

export const negotiateForm = (accept: string | undefined, list: boolean): Form | undefined => {
  const wanted = list ? "PartialObjectMetadataList" : "PartialObjectMetadata"
  for (const media of (accept ?? "application/json").split(",")) {
    const [type, ...params] = media.split(";").map((s) => s.trim())
    if (type !== "application/json" && type !== "*/*" && type !== "application/*") continue
    const as = params.find((p) => p.startsWith("as="))?.slice(3)
    if (as === undefined) return "full"
    // The list form on a GET (or the object form on a list) is not served: the real server says 406.
    if (as === wanted) return "metadata"
  }
  return undefined
}

const deploymentMetadata = (d: Deployment, resourceVersion: number) => ({
  name: d.name,
  namespace: d.namespace,
  uid: d.uid,
  resourceVersion: String(resourceVersion),
  generation: 1,
  creationTimestamp: "2026-07-14T09:12:40Z",
  labels: { "app.kubernetes.io/name": d.name, "app.kubernetes.io/part-of": "bench" },
  annotations: { "deployment.kubernetes.io/revision": "1", "metadata.github.com/team": "bench" }
})

/** How a workload object is rendered: the Deployment (or its ReplicaSet) in a form. */
export type WorkloadObject = (d: Deployment, resourceVersion: number, form: Form, replicas: number) => object

export const deploymentObject: WorkloadObject = (d, resourceVersion, form, replicas) =>
  form === "metadata"
    ? { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: deploymentMetadata(d, resourceVersion) }
    : {
      kind: "Deployment",
      apiVersion: "apps/v1",
      metadata: deploymentMetadata(d, resourceVersion),
      spec: { replicas, selector: { matchLabels: { "app.kubernetes.io/name": d.name } } },
      status: { replicas, readyReplicas: replicas, availableReplicas: replicas }
    }

export const replicaSetObject: WorkloadObject = (d, resourceVersion, form, replicas) => {
  const metadata = {
    name: d.replicaSetName,
    namespace: d.namespace,
    uid: d.replicaSetUid,
    resourceVersion: String(resourceVersion),
    generation: 1,
    creationTimestamp: "2026-07-14T09:12:40Z",
    labels: { "app.kubernetes.io/name": d.name, "pod-template-hash": d.hash },
    annotations: { "deployment.kubernetes.io/revision": "1", "deployment.kubernetes.io/desired-replicas": String(replicas) },
    ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: d.name, uid: d.uid, controller: true, blockOwnerDeletion: true }]
  }
  return form === "metadata"
    ? { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata }
    : { kind: "ReplicaSet", apiVersion: "apps/v1", metadata, spec: { replicas }, status: { replicas, readyReplicas: replicas } }
}

/** A list body around already serialised items. An empty metadata list has `items: null`, as the real server's (a nil Go slice). */
export const listBody = (
  kind: string,
  apiVersion: string,
  resourceVersion: number,
  items: ReadonlyArray<string>,
  continueToken: string | undefined,
  nullWhenEmpty: boolean
) => {
  const metadata = JSON.stringify({
    resourceVersion: String(resourceVersion),
    ...(continueToken === undefined ? {} : { continue: continueToken })
  })
  const itemsJson = items.length === 0 && nullWhenEmpty ? "null" : `[${items.join(",")}]`
  return `{"kind":"${kind}","apiVersion":"${apiVersion}","metadata":${metadata},"items":${itemsJson}}`
}
