import { digestAnnotation, type KubeObject } from "./kube.ts"

// Workload objects for the tests, as plain objects (applied as JSON).

export interface ContainerSpec {
  readonly name: string
  readonly image: string
  /** Makes kwok report this digest in the container's imageID (else sha256 of the image string). */
  readonly digest?: string
}

export interface PodTemplateOptions {
  readonly containers: ReadonlyArray<ContainerSpec>
  readonly initContainers?: ReadonlyArray<ContainerSpec>
  readonly restartPolicy?: "Always" | "Never" | "OnFailure"
}

const podTemplate = (labels: Record<string, string>, options: PodTemplateOptions): KubeObject => {
  const all = [...options.containers, ...(options.initContainers ?? [])]
  const annotations = Object.fromEntries(
    all.flatMap((c) => (c.digest === undefined ? [] : [[digestAnnotation(c.name), c.digest]]))
  )
  const container = (c: ContainerSpec) => ({ name: c.name, image: c.image })
  return {
    metadata: { labels, annotations },
    spec: {
      containers: options.containers.map(container),
      ...(options.initContainers === undefined ? {} : { initContainers: options.initContainers.map(container) }),
      ...(options.restartPolicy === undefined ? {} : { restartPolicy: options.restartPolicy }),
      terminationGracePeriodSeconds: 0
    }
  }
}

const labelsOf = (name: string) => ({ app: name })

export const deployment = (
  namespace: string,
  name: string,
  options: PodTemplateOptions & { readonly replicas?: number }
): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, namespace },
  spec: {
    replicas: options.replicas ?? 1,
    selector: { matchLabels: labelsOf(name) },
    template: podTemplate(labelsOf(name), options)
  }
})

export const statefulSet = (
  namespace: string,
  name: string,
  options: PodTemplateOptions & { readonly replicas?: number }
): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "StatefulSet",
  metadata: { name, namespace },
  spec: {
    replicas: options.replicas ?? 1,
    serviceName: name,
    podManagementPolicy: "Parallel",
    selector: { matchLabels: labelsOf(name) },
    template: podTemplate(labelsOf(name), options)
  }
})

export const daemonSet = (namespace: string, name: string, options: PodTemplateOptions): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "DaemonSet",
  metadata: { name, namespace },
  spec: {
    selector: { matchLabels: labelsOf(name) },
    template: podTemplate(labelsOf(name), options)
  }
})

export const job = (
  namespace: string,
  name: string,
  options: PodTemplateOptions & { readonly completions?: number; readonly parallelism?: number }
): KubeObject => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name, namespace },
  spec: {
    completions: options.completions ?? 1,
    parallelism: options.parallelism ?? 1,
    backoffLimit: 0,
    template: podTemplate({ job: name }, { ...options, restartPolicy: options.restartPolicy ?? "Never" })
  }
})
