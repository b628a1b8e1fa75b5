import { createHash } from "node:crypto"
import { inject } from "vitest"
import { DIGEST_ANNOTATION_PREFIX, kubectl, kubectlResult } from "../../../scripts/cluster/controlPlane.ts"
import { eventually } from "./eventually.ts"

// The tests' own view of the cluster: kubectl as the admin.

export const clusterDir = (): string => inject("clusterDir")

/** Runs kubectl as the admin; throws on a non-zero exit, returns stdout. */
export const kube = (args: ReadonlyArray<string>, input?: string): Promise<string> =>
  kubectl([...args], { stateDir: clusterDir(), ...(input === undefined ? {} : { input }) })

/** Applies objects (JSON is YAML, so no YAML library is needed). */
export const apply = (...objects: ReadonlyArray<KubeObject>): Promise<string> =>
  kube(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }))

export type KubeObject = Record<string, unknown>

/**
 * Creates a namespace and waits for its `default` ServiceAccount: the
 * ServiceAccount admission plugin refuses pods until it exists.
 */
export const createNamespace = async (name: string): Promise<void> => {
  await kube(["create", "namespace", name])
  await eventually(`ServiceAccount ${name}/default`, async () => {
    const r = await kubectlResult(["get", "serviceaccount", "default", "-n", name], { stateDir: clusterDir() })
    if (r.code !== 0) throw new Error(r.stderr)
  })
}

/**
 * Deletes namespaces and waits until their pods are gone, so later tests'
 * trackers never see them. (The namespaces themselves finish terminating
 * in the background: waiting for that costs seconds per test.)
 */
export const deleteNamespaces = async (names: ReadonlyArray<string>): Promise<void> => {
  if (names.length === 0) return
  await kube(["delete", "namespace", ...names, "--ignore-not-found", "--wait=false"])
  // Finished (Job) pods have no controller left to delete them quickly.
  await Promise.all(names.map((ns) => kube(["delete", "pods", "--all", "-n", ns, "--wait=false"])))
  await eventually(`pods of ${names.join(", ")} gone`, async () => {
    const left = (await Promise.all(names.map((ns) => pods(ns)))).flat()
    if (left.length > 0) throw new Error(left.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(", "))
  }, { deadlineMs: 60_000 })
}

export interface ContainerStatus {
  readonly name: string
  readonly image: string
  readonly imageID?: string
}

export interface Pod {
  readonly metadata: {
    readonly name: string
    readonly namespace: string
    readonly deletionTimestamp?: string
    readonly ownerReferences?: ReadonlyArray<{ readonly kind: string; readonly name: string }>
  }
  readonly spec: { readonly nodeName?: string }
  readonly status: {
    readonly phase?: string
    readonly containerStatuses?: ReadonlyArray<ContainerStatus>
    readonly initContainerStatuses?: ReadonlyArray<ContainerStatus>
  }
}

/** The pods of a namespace, optionally only those matching a label selector. */
export const pods = async (namespace: string, selector?: string): Promise<ReadonlyArray<Pod>> => {
  const out = await kube(["get", "pods", "-n", namespace, "-o", "json", ...(selector === undefined ? [] : ["-l", selector])])
  return (JSON.parse(out) as { items: ReadonlyArray<Pod> }).items
}

/** `docker-pullable://repo@sha256:...` -> `sha256:...` */
export const digestOf = (imageID: string | undefined): string | undefined => {
  if (imageID === undefined || imageID === "") return undefined
  const at = imageID.lastIndexOf("@")
  return at === -1 ? imageID : imageID.slice(at + 1)
}

/**
 * Every container and init container status of the given pods, as
 * `deployment_name -> set of digests` under the default DN_TEMPLATE.
 */
export const digestsByDeploymentName = (
  namespace: string,
  workload: string,
  of: ReadonlyArray<Pod>
): Map<string, Set<string>> => {
  const result = new Map<string, Set<string>>()
  for (const pod of of) {
    for (const status of [...(pod.status.containerStatuses ?? []), ...(pod.status.initContainerStatuses ?? [])]) {
      const digest = digestOf(status.imageID)
      if (digest === undefined) continue
      const key = `${namespace}/${workload}/${status.name}`
      const set = result.get(key) ?? new Set<string>()
      set.add(digest)
      result.set(key, set)
    }
  }
  return result
}

/** A digest for the kwok digest annotation: deterministic, unique per seed. */
export const fakeDigest = (seed: string): string => `sha256:${createHash("sha256").update(`e2e/${seed}`).digest("hex")}`

export const digestAnnotation = (container: string): string => `${DIGEST_ANNOTATION_PREFIX}${container}`
