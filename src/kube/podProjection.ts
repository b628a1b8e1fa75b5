import { ANNOTATION_PREFIX } from "../metadata/annotations.ts"
import { TRACKER_ANNOTATION_PREFIX } from "../metadata/trackerAnnotations.ts"
import type { Projection } from "./Delta.ts"
import type { Interner } from "./Interner.ts"
import type { PodPhase, SlimContainer, SlimOwnerReference, SlimPod } from "./SlimPod.ts"

const TEMPLATE_HASH_LABEL = "pod-template-hash"

const NO_OWNERS: ReadonlyArray<SlimOwnerReference> = Object.freeze([])
const NO_CONTAINERS: ReadonlyArray<SlimContainer> = Object.freeze([])

type JsonObject = { readonly [key: string]: unknown }

export const isObject = (value: unknown): value is JsonObject => typeof value === "object" && value !== null

const failure = (reason: string): Projection<SlimPod> => ({ ok: false, reason })

const toPhase = (value: unknown): PodPhase => {
  switch (value) {
    case "Running":
      return "Running"
    case "Pending":
      return "Pending"
    case "Succeeded":
      return "Succeeded"
    case "Failed":
      return "Failed"
    default:
      return "Unknown"
  }
}

/**
 * RFC 3339 string from raw JSON; a Date when the object went through
 * @kubernetes/client-node's typed deserializer (list calls do that).
 */
const toEpochMillis = (value: unknown): number => {
  let millis = Number.NaN
  if (typeof value === "string") millis = Date.parse(value)
  else if (value instanceof Date) millis = value.getTime()
  return Number.isFinite(millis) ? millis : 0
}

/** A string field, or undefined when absent or not a string. */
export const stringField = (object: JsonObject, key: string): string | undefined => {
  const value = object[key]
  return typeof value === "string" ? value : undefined
}

/** Returns the owners, or a string naming the bad field. */
export const projectOwners = (raw: unknown): ReadonlyArray<SlimOwnerReference> | string => {
  if (raw === undefined || raw === null) return NO_OWNERS
  if (!Array.isArray(raw)) return "metadata.ownerReferences is not an array"
  const count = raw.length
  if (count === 0) return NO_OWNERS
  const owners = new Array<SlimOwnerReference>(count)
  for (let index = 0; index < count; index++) {
    const entry: unknown = raw[index]
    if (!isObject(entry)) return `metadata.ownerReferences[${index}] is not an object`
    const kind = stringField(entry, "kind")
    if (kind === undefined) return `metadata.ownerReferences[${index}].kind is missing`
    const name = stringField(entry, "name")
    if (name === undefined) return `metadata.ownerReferences[${index}].name is missing`
    owners[index] = {
      apiVersion: stringField(entry, "apiVersion") ?? "",
      kind,
      name,
      uid: stringField(entry, "uid") ?? "",
      controller: entry["controller"] === true
    }
  }
  return owners
}

/** Only `metadata.github.com/*` and the tracker's own `deployment-tracker/*`; undefined when there are none (the usual case). */
export const projectAnnotations = (raw: unknown): Record<string, string> | undefined => {
  if (!isObject(raw)) return undefined
  let kept: Record<string, string> | undefined
  for (const key in raw) {
    if (!key.startsWith(ANNOTATION_PREFIX) && !key.startsWith(TRACKER_ANNOTATION_PREFIX)) continue
    const value = raw[key]
    if (typeof value !== "string") continue
    if (kept === undefined) kept = {}
    kept[key] = value
  }
  return kept
}

/**
 * The imageID reported for `name`, or undefined. Pods have a handful of
 * containers, so a linear scan beats building a Map.
 */
const imageIDFor = (statuses: ReadonlyArray<unknown> | undefined, name: string): string | undefined => {
  if (statuses === undefined) return undefined
  for (let index = 0; index < statuses.length; index++) {
    const status = statuses[index]
    if (isObject(status) && status["name"] === name) {
      const imageID = status["imageID"]
      // The kubelet reports "" while the image is still being pulled.
      return typeof imageID === "string" && imageID.length > 0 ? imageID : undefined
    }
  }
  return undefined
}

/** Returns the containers, or a string naming the bad field. */
const projectContainers = (
  raw: unknown,
  rawStatuses: unknown,
  field: string,
  required: boolean
): ReadonlyArray<SlimContainer> | string => {
  if (raw === undefined || raw === null) {
    return required ? `spec.${field} is missing` : NO_CONTAINERS
  }
  if (!Array.isArray(raw)) return `spec.${field} is not an array`
  const count = raw.length
  if (count === 0) return NO_CONTAINERS
  const statuses = Array.isArray(rawStatuses) ? (rawStatuses as ReadonlyArray<unknown>) : undefined
  const containers = new Array<SlimContainer>(count)
  for (let index = 0; index < count; index++) {
    const entry: unknown = raw[index]
    if (!isObject(entry)) return `spec.${field}[${index}] is not an object`
    const name = stringField(entry, "name")
    if (name === undefined) return `spec.${field}[${index}].name is missing`
    const image = stringField(entry, "image")
    if (image === undefined) return `spec.${field}[${index}].image is missing`
    containers[index] = { name, image, imageID: imageIDFor(statuses, name) }
  }
  return containers
}

/**
 * Pod JSON (a watch event's object or a list item) -> SlimPod.
 *
 * This runs for every pod event the API server sends (tens of thousands per
 * second during a relist of a large cluster), so it is written by hand:
 * no Schema, no spreads, no regexes, and shared frozen empties for the
 * common "nothing here" cases. It keeps only the strings it needs and never
 * a reference into the parsed object, so the 4-8 KB Pod (managedFields and
 * all) can be collected as soon as the caller drops it. Strings produced by
 * JSON.parse are standalone heap strings in V8 (not slices of the response
 * text), so holding them does not hold the text either.
 */
export const projectPod = (raw: unknown): Projection<SlimPod> => {
  if (!isObject(raw)) return failure("pod is not an object")
  const metadata = raw["metadata"]
  if (!isObject(metadata)) return failure("metadata is missing")
  const namespace = stringField(metadata, "namespace")
  if (namespace === undefined || namespace.length === 0) return failure("metadata.namespace is missing")
  const name = stringField(metadata, "name")
  if (name === undefined || name.length === 0) return failure("metadata.name is missing")
  const uid = stringField(metadata, "uid")
  if (uid === undefined || uid.length === 0) return failure("metadata.uid is missing")

  const spec = raw["spec"]
  if (!isObject(spec)) return failure("spec is missing")
  const rawStatus = raw["status"]
  const status = isObject(rawStatus) ? rawStatus : undefined

  const ownerReferences = projectOwners(metadata["ownerReferences"])
  if (typeof ownerReferences === "string") return failure(ownerReferences)
  const containers = projectContainers(spec["containers"], status?.["containerStatuses"], "containers", true)
  if (typeof containers === "string") return failure(containers)
  const initContainers = projectContainers(
    spec["initContainers"],
    status?.["initContainerStatuses"],
    "initContainers",
    false
  )
  if (typeof initContainers === "string") return failure(initContainers)

  const labels = metadata["labels"]
  const templateHash = isObject(labels) ? stringField(labels, TEMPLATE_HASH_LABEL) : undefined
  const deletionTimestamp = metadata["deletionTimestamp"]
  return {
    ok: true,
    value: {
      namespace,
      name,
      uid,
      resourceVersion: stringField(metadata, "resourceVersion") ?? "",
      phase: toPhase(status?.["phase"]),
      terminating: deletionTimestamp !== undefined && deletionTimestamp !== null,
      createdAt: toEpochMillis(metadata["creationTimestamp"]),
      ownerReferences,
      templateHash,
      annotations: projectAnnotations(metadata["annotations"]),
      containers,
      initContainers
    }
  }
}

const SEPARATOR = "\u0000"

const ownersKey = (owners: ReadonlyArray<SlimOwnerReference>): string => {
  let key = "o"
  for (const o of owners) key += `${SEPARATOR}${o.apiVersion}${SEPARATOR}${o.kind}${SEPARATOR}${o.name}${SEPARATOR}${o.uid}${SEPARATOR}${o.controller ? 1 : 0}`
  return key
}

const containersKey = (prefix: string, containers: ReadonlyArray<SlimContainer>): string => {
  let key = prefix
  for (const c of containers) key += `${SEPARATOR}${c.name}${SEPARATOR}${c.image}${SEPARATOR}${c.imageID ?? ""}`
  return key
}

const annotationsKey = (annotations: Readonly<Record<string, string>>): string => {
  let key = "a"
  for (const name in annotations) key += `${SEPARATOR}${name}${SEPARATOR}${annotations[name]}`
  return key
}

/**
 * A projector for a long-lived cache: like projectPod, but the parts that
 * replicas share (namespace, owners, containers, annotations) are the same
 * frozen objects in every pod that has them (see Interner). The per-pod
 * cost is then little more than the name, uid and resourceVersion.
 */
export const makePodProjector = (interner: Interner) => (raw: unknown): Projection<SlimPod> => {
  const result = projectPod(raw)
  if (!result.ok) return result
  const pod = result.value
  const share = <T extends object>(key: string, value: T): T => interner.shared(key, () => Object.freeze(value))
  return {
    ok: true,
    value: {
      ...pod,
      namespace: interner.shared(`n${SEPARATOR}${pod.namespace}`, () => pod.namespace),
      templateHash: pod.templateHash === undefined ? undefined : interner.shared(`h${SEPARATOR}${pod.templateHash}`, () => pod.templateHash),
      ownerReferences: pod.ownerReferences.length === 0
        ? pod.ownerReferences
        : share(ownersKey(pod.ownerReferences), pod.ownerReferences),
      containers: pod.containers.length === 0 ? pod.containers : share(containersKey("c", pod.containers), pod.containers),
      initContainers: pod.initContainers.length === 0
        ? pod.initContainers
        : share(containersKey("i", pod.initContainers), pod.initContainers),
      annotations: pod.annotations === undefined ? undefined : share(annotationsKey(pod.annotations), pod.annotations)
    }
  }
}
