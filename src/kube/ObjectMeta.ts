import type { Projection } from "./Reflector.ts"
import { isObject, projectAnnotations, projectOwners, stringField } from "./podProjection.ts"
import type { SlimOwnerReference } from "./SlimPod.ts"

/**
 * What the controller keeps of a workload or owner object: identity,
 * whether it is being deleted, its controlling owner and its
 * `metadata.github.com/*` annotations. Read through the metadata API, so
 * specs and statuses never reach this process.
 */
export interface ObjectMeta {
  readonly kind: string
  readonly namespace: string
  readonly name: string
  readonly uid: string
  readonly resourceVersion: string
  /** `metadata.deletionTimestamp` is set (foreground cascading deletion keeps the object a while). */
  readonly deleting: boolean
  readonly controller: SlimOwnerReference | undefined
  readonly annotations: Readonly<Record<string, string>> | undefined
}

export const objectKey = (kind: string, namespace: string, name: string): string => `${kind}/${namespace}/${name}`

export const metaKey = (meta: ObjectMeta): string => objectKey(meta.kind, meta.namespace, meta.name)

/**
 * A PartialObjectMetadata (or a full object) -> ObjectMeta. `kind` comes
 * from the caller: PartialObjectMetadata carries `kind: PartialObjectMetadata`.
 * Cluster-scoped objects (Namespaces) have no namespace: pass the one to use.
 */
export const projectObjectMeta = (kind: string, raw: unknown, clusterScoped?: string): Projection<ObjectMeta> => {
  if (!isObject(raw)) return { ok: false, reason: "not an object" }
  const metadata = raw["metadata"]
  if (!isObject(metadata)) return { ok: false, reason: "metadata is missing" }
  const namespace = stringField(metadata, "namespace") ?? clusterScoped
  if (namespace === undefined) return { ok: false, reason: "metadata.namespace is missing" }
  const name = stringField(metadata, "name")
  if (name === undefined) return { ok: false, reason: "metadata.name is missing" }
  const uid = stringField(metadata, "uid")
  if (uid === undefined) return { ok: false, reason: "metadata.uid is missing" }
  const owners = projectOwners(metadata["ownerReferences"])
  if (typeof owners === "string") return { ok: false, reason: owners }
  const deletion = metadata["deletionTimestamp"]
  return {
    ok: true,
    value: {
      kind,
      namespace,
      name,
      uid,
      resourceVersion: stringField(metadata, "resourceVersion") ?? "",
      deleting: deletion !== undefined && deletion !== null,
      controller: owners.find((owner) => owner.controller),
      annotations: projectAnnotations(metadata["annotations"])
    }
  }
}
