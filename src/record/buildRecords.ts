import type { DeploymentRecord, RecordStatus, RuntimeRisk } from "./DeploymentRecord.ts"
import { renderDeploymentName } from "./deploymentName.ts"
import { digestFromImageID, parseImageReference } from "./imageReference.ts"
import { validateRecord } from "./validateRecord.ts"

/** A container as a record needs it: its name, the image it was given, the image the runtime reports. */
export interface ContainerImage {
  readonly name: string
  /** `spec.containers[].image`. */
  readonly image: string
  /** `status.containerStatuses[].imageID` (e.g. `docker-pullable://repo@sha256:...`), undefined while unknown. */
  readonly imageID: string | undefined
}

/** What every record of one workload shares. */
export interface RecordContext {
  readonly namespace: string
  readonly status: RecordStatus
  /** The resolved workload (Deployment, DaemonSet, ...) name: `{{deploymentName}}`. */
  readonly workloadName: string
  /** The deployment_name template (`DN_TEMPLATE`). */
  readonly template: string
  readonly logicalEnvironment: string
  readonly physicalEnvironment: string
  readonly cluster: string
  readonly runtimeRisks?: ReadonlyArray<RuntimeRisk>
  readonly tags?: Readonly<Record<string, string>>
  readonly githubRepository?: string
}

export interface BuildRecordsInput extends Omit<RecordContext, "namespace"> {
  readonly pod: {
    readonly namespace: string
    readonly containers: ReadonlyArray<ContainerImage>
    readonly initContainers: ReadonlyArray<ContainerImage>
  }
}

/** What became of one container (or init container) of the pod. */
export type RecordOutcome =
  | {
      readonly _tag: "Ready"
      readonly container: ContainerImage
      readonly record: DeploymentRecord
      /** Changes made to fit the API (e.g. an over-long version dropped), for the log. */
      readonly adjustments: ReadonlyArray<string>
    }
  /** No imageID yet, so no digest: skipped quietly, as the original does. */
  | { readonly _tag: "NoDigest"; readonly container: ContainerImage }
  /** The record would break the API's constraints: the caller logs and counts it. */
  | {
    readonly _tag: "Invalid"
    readonly container: ContainerImage
    readonly deploymentName: string
    readonly field: string
    readonly reason: string
  }

/**
 * Mutable while being assembled, so optional fields can be set only when
 * present (exactOptionalPropertyTypes) without spreading.
 */
type RecordDraft = { -readonly [K in keyof DeploymentRecord]: DeploymentRecord[K] }

/** The record of one container. */
export const recordFor = (input: RecordContext, container: ContainerImage): RecordOutcome => {
  const digest = digestFromImageID(container.imageID)
  if (digest === undefined) return { _tag: "NoDigest", container }
  const image = parseImageReference(container.image)
  const draft: RecordDraft = {
    name: image.name,
    digest,
    status: input.status,
    logical_environment: input.logicalEnvironment,
    physical_environment: input.physicalEnvironment,
    cluster: input.cluster,
    deployment_name: renderDeploymentName(input.template, {
      namespace: input.namespace,
      workloadName: input.workloadName,
      containerName: container.name
    })
  }
  if (image.version !== undefined) draft.version = image.version
  // Empty values are left out, as the original's `omitempty` does.
  if (input.runtimeRisks !== undefined && input.runtimeRisks.length > 0) draft.runtime_risks = input.runtimeRisks
  if (input.tags !== undefined && Object.keys(input.tags).length > 0) draft.tags = input.tags
  if (input.githubRepository !== undefined && input.githubRepository.length > 0) {
    draft.github_repository = input.githubRepository
  }
  const checked = validateRecord(draft)
  return checked.ok
    ? { _tag: "Ready", container, record: checked.record, adjustments: checked.adjustments }
    : { _tag: "Invalid", container, deploymentName: draft.deployment_name, field: checked.field, reason: checked.reason }
}

/** One outcome per container, then per init container, in pod spec order. */
export const buildRecords = (input: BuildRecordsInput): ReadonlyArray<RecordOutcome> => {
  const { containers, initContainers, namespace } = input.pod
  const context: RecordContext = { ...input, namespace }
  const outcomes = new Array<RecordOutcome>(containers.length + initContainers.length)
  let index = 0
  for (const container of containers) outcomes[index++] = recordFor(context, container)
  for (const container of initContainers) outcomes[index++] = recordFor(context, container)
  return outcomes
}
