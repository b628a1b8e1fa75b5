import type { NamespaceScope } from "../config/Config.ts"
import { apiGroup } from "./ownerReferences.ts"

/**
 * Where things live on the Kubernetes API: the kinds the controller
 * watches or reads, their paths, how a namespace scope becomes a path or a
 * field selector, and the RBAC rules all of that needs.
 */

/** A kind with where its collection lives. */
export interface ResourceKind {
  readonly kind: string
  readonly apiVersion: string
  readonly plural: string
}

/**
 * The workload kinds watched (metadata only): a pod's workload is one of
 * these, or is read on demand (ReplicaSets, custom owners).
 */
export const WATCHED_KINDS: ReadonlyArray<ResourceKind> = [
  { kind: "Deployment", apiVersion: "apps/v1", plural: "deployments" },
  { kind: "DaemonSet", apiVersion: "apps/v1", plural: "daemonsets" },
  { kind: "StatefulSet", apiVersion: "apps/v1", plural: "statefulsets" },
  { kind: "Job", apiVersion: "batch/v1", plural: "jobs" },
  { kind: "CronJob", apiVersion: "batch/v1", plural: "cronjobs" }
]

export const PODS: ResourceKind = { kind: "Pod", apiVersion: "v1", plural: "pods" }
export const REPLICA_SETS: ResourceKind = { kind: "ReplicaSet", apiVersion: "apps/v1", plural: "replicasets" }

const BUILT_IN: ReadonlyMap<string, ResourceKind> = new Map(
  [PODS, REPLICA_SETS, ...WATCHED_KINDS].map((resource) => [`${apiGroup(resource.apiVersion)}/${resource.kind}`, resource])
)

/** The watched kind this (kind, apiVersion) is, if any: the group must match (an OpenKruise StatefulSet is not watched). */
export const watchedKind = (kind: string, apiVersion: string): ResourceKind | undefined => {
  const resource = BUILT_IN.get(`${apiGroup(apiVersion)}/${kind}`)
  return resource !== undefined && resource !== PODS && resource !== REPLICA_SETS ? resource : undefined
}

/** `/api/v1` for the core group, `/apis/<group>/<version>` for the others. */
export const apiPrefix = (apiVersion: string): string => apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`

/**
 * The plural of a kind: known for built-in kinds; for custom kinds the
 * lower-case kind + "s" (right for Argo Rollouts' `rollouts` and
 * OpenKruise's `statefulsets`; an irregular plural would need API discovery).
 */
export const pluralOf = (kind: string, apiVersion: string): string =>
  BUILT_IN.get(`${apiGroup(apiVersion)}/${kind}`)?.plural ?? `${kind.toLowerCase()}s`

/** One object's path; undefined without an apiVersion (nothing to address it by). */
export const objectPath = (kind: string, apiVersion: string, namespace: string, name: string): string | undefined =>
  apiVersion === ""
    ? undefined
    : `${apiPrefix(apiVersion)}/namespaces/${encodeURIComponent(namespace)}/${pluralOf(kind, apiVersion)}/${encodeURIComponent(name)}`

/** A collection's path and field selector for a namespace scope: applied by the API server. */
export const collectionFor = (
  scope: NamespaceScope,
  resource: ResourceKind
): { readonly path: string; readonly fieldSelector: string | undefined } => {
  const prefix = apiPrefix(resource.apiVersion)
  switch (scope._tag) {
    case "All":
      return { path: `${prefix}/${resource.plural}`, fieldSelector: undefined }
    case "Only":
      return { path: `${prefix}/namespaces/${encodeURIComponent(scope.namespace)}/${resource.plural}`, fieldSelector: undefined }
    case "Exclude":
      return {
        path: `${prefix}/${resource.plural}`,
        fieldSelector: scope.namespaces.map((ns) => `metadata.namespace!=${ns}`).join(",")
      }
  }
}

export interface RbacRule {
  readonly apiGroups: ReadonlyArray<string>
  readonly resources: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<string>
}

/**
 * What the controller reads, for checking the manifest's ClusterRole: pods,
 * namespaces and the watched kinds are listed and watched; ReplicaSets and Argo
 * Rollouts are read one by one. Any other custom owner of ReplicaSets needs
 * its own `get` rule, or its pods are named after the ReplicaSet.
 */
export const READ_RBAC_RULES: ReadonlyArray<RbacRule> = [
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
  { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch"] },
  { apiGroups: ["apps"], resources: ["deployments", "daemonsets", "statefulsets"], verbs: ["get", "list", "watch"] },
  { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["get"] },
  { apiGroups: ["batch"], resources: ["jobs", "cronjobs"], verbs: ["get", "list", "watch"] },
  { apiGroups: ["argoproj.io"], resources: ["rollouts"], verbs: ["get"] }
]

export const NAMESPACES: ResourceKind = { kind: "Namespace", apiVersion: "v1", plural: "namespaces" }

/** The Namespaces collection for a scope: all, or the one of `-namespace` (an exclude list is applied to pods, not here). */
export const namespaceCollection = (scope: NamespaceScope): { readonly path: string; readonly fieldSelector: string | undefined } => ({
  path: "/api/v1/namespaces",
  fieldSelector: scope._tag === "Only" ? `metadata.name=${scope.namespace}` : undefined
})

export const LEASES: ResourceKind = { kind: "Lease", apiVersion: "coordination.k8s.io/v1", plural: "leases" }
export const CONFIG_MAPS: ResourceKind = { kind: "ConfigMap", apiVersion: "v1", plural: "configmaps" }

/** A namespaced collection's path (where a POST creates). */
export const namespacedCollectionPath = (resource: ResourceKind, namespace: string): string =>
  `${apiPrefix(resource.apiVersion)}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}`
/**
 * What the controller writes besides its own state: Events on the
 * workload objects (`-kube-events`), in each workload's namespace, created
 * once and patched as their series grows. Never read back.
 */
export const EVENTS_RBAC_RULE: RbacRule = { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] }

/** The events.k8s.io/v1 collection of a namespace, or one Event in it. */
export const eventsPath = (namespace: string, name?: string): string =>
  `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events${name === undefined ? "" : `/${encodeURIComponent(name)}`}`
