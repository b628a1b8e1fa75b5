import { loadAllYaml } from "@kubernetes/client-node"
import { readFileSync } from "node:fs"

// Kubernetes objects read from YAML streams (the manifest, `helm template`
// output), as plain JSON values so that two streams compare with toEqual.

export interface KubeObject {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly labels?: Readonly<Record<string, string>>
  }
  readonly [field: string]: unknown
}

export const MANIFEST_PATH = new URL("../../deploy/manifest.yaml", import.meta.url)
export const CHART_PATH = new URL("../../deploy/charts/deployment-tracker", import.meta.url)
export const MANIFEST_VALUES_PATH = new URL("./manifest-values.yaml", import.meta.url)

/** Every object of a multi-document YAML stream (empty documents left out). */
export const parseObjects = (stream: string): Array<KubeObject> =>
  (loadAllYaml(stream) as Array<unknown>)
    .filter((document) => document !== null && document !== undefined)
    .map((document) => JSON.parse(JSON.stringify(document)) as KubeObject)

export const manifestObjects = (): Array<KubeObject> => parseObjects(readFileSync(MANIFEST_PATH, "utf8"))

export const keyOf = (object: KubeObject): string =>
  `${object.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`

/** The one object of this kind (and name, when given); throws when there is not exactly one. */
export const only = (objects: ReadonlyArray<KubeObject>, kind: string, name?: string): KubeObject => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name))
  if (found.length !== 1) throw new Error(`expected one ${kind}${name === undefined ? "" : ` ${name}`}, found ${found.length}`)
  return found[0]!
}

/**
 * Helm's standard labels, which the chart adds and the manifest has no use
 * for: the chart's name-version, the app's version and the managing tool.
 */
export const HELM_STANDARD_LABELS = ["helm.sh/chart", "app.kubernetes.io/version", "app.kubernetes.io/managed-by"] as const

/** A copy without Helm's standard labels, on the object and on a pod template. */
export const withoutHelmLabels = (object: KubeObject): KubeObject => {
  const copy = structuredClone(object) as { metadata: { labels?: Record<string, string> }; spec?: { template?: { metadata?: { labels?: Record<string, string> } } } }
  for (const labels of [copy.metadata.labels, copy.spec?.template?.metadata?.labels]) {
    if (labels === undefined) continue
    for (const label of HELM_STANDARD_LABELS) delete labels[label]
  }
  return copy as unknown as KubeObject
}

/** The Deployment's first container, for the tests that look inside it. */
export interface Container {
  readonly name: string
  readonly image: string
  readonly args?: ReadonlyArray<string>
  readonly env?: ReadonlyArray<{ name: string; value?: string; valueFrom?: Record<string, Record<string, string>> }>
  readonly [field: string]: unknown
}

export const containerOf = (deployment: KubeObject): Container => {
  const spec = deployment["spec"] as { template: { spec: { containers: Array<Container> } } }
  return spec.template.spec.containers[0]!
}

export const podSpecOf = (deployment: KubeObject): Record<string, unknown> =>
  (deployment["spec"] as { template: { spec: Record<string, unknown> } }).template.spec

/** The container's environment as name -> value or valueFrom. */
export const envOf = (deployment: KubeObject): Record<string, unknown> =>
  Object.fromEntries((containerOf(deployment).env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]))

/**
 * The original's two selectors, kept by ours: its manifest selects the
 * Deployment's pods by `app: deployment-tracker`, its chart by the
 * app.kubernetes.io labels. A Deployment's selector cannot change, so each
 * must stay what installs of the original already have.
 */
export const MANIFEST_SELECTOR: Readonly<Record<string, string>> = { app: "deployment-tracker" }
export const chartSelector = (release: string): Readonly<Record<string, string>> => ({
  "app.kubernetes.io/name": "deployment-tracker",
  "app.kubernetes.io/instance": release
})

/**
 * A manifest object as the chart renders it: the manifest's Deployment
 * carries the original manifest's `app` label and selector, the chart's the
 * original chart's selector; everything else is the same.
 */
export const asChartRendersIt = (object: KubeObject): KubeObject => {
  if (object.kind !== "Deployment") return object
  const copy = structuredClone(object) as unknown as {
    metadata: { labels?: Record<string, string> }
    spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } } }
  }
  delete copy.metadata.labels?.["app"]
  delete copy.spec.template.metadata.labels["app"]
  copy.spec.selector.matchLabels = { ...chartSelector(object.metadata.name) }
  return copy as unknown as KubeObject
}
