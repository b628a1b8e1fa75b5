import { Effect } from "effect"
import { Config } from "../config/Config.ts"
import { type AnnotationMap, aggregateAnnotations, GITHUB_REPOSITORY_KEY, RUNTIME_RISKS_KEY } from "../metadata/annotations.ts"
import type { Environment } from "../metadata/trackerAnnotations.ts"
import { Metrics } from "../observability/Metrics.ts"
import type { DeploymentRecord } from "../record/DeploymentRecord.ts"
import { recordFor } from "../record/buildRecords.ts"
import type { ChosenContainer } from "./desiredState.ts"
import { WorkloadEvents } from "../events/WorkloadEvents.ts"

const annotationKind = (key: string) =>
  key === RUNTIME_RISKS_KEY ? "runtime-risks" as const : key === GITHUB_REPOSITORY_KEY ? "github-repository" as const : "tag" as const

/**
 * The `deployed` record of a chosen container: its image, the name the
 * template gives it, the environments of its Namespace, and the annotation
 * metadata of its pod and owner chain (`anchorAnnotations` are the workload
 * object's own, read from its cache). What cannot be sent is logged and counted: a record the API
 * would reject, an invalid annotation (left out; the record still goes).
 * One stage, used by the workers and the start-up bulk sync alike.
 */
export class RecordBuilder extends Effect.Service<RecordBuilder>()("deployment-tracker/RecordBuilder", {
  effect: Effect.gen(function*() {
    const config = yield* Config
    const metrics = yield* Metrics
    const events = yield* WorkloadEvents

    const build = (
      chosen: ChosenContainer,
      anchorAnnotations: AnnotationMap,
      environment: Environment
    ): Effect.Effect<DeploymentRecord | undefined> =>
      Effect.gen(function*() {
        const { attribution, container, pod } = chosen
        const metadata = aggregateAnnotations([pod.annotations, ...attribution.ownerAnnotations, anchorAnnotations])
        for (const dropped of metadata.dropped) {
          metrics.annotationInvalid(annotationKind(dropped.key))
          yield* Effect.logWarning("Invalid annotation left out of the records").pipe(
            Effect.annotateLogs({ pod: pod.name, annotation: dropped.key, reason: dropped.reason })
          )
        }
        const outcome = recordFor({
          namespace: pod.namespace,
          status: "deployed",
          workloadName: attribution.workloadName,
          template: config.deploymentNameTemplate,
          logicalEnvironment: environment.logical,
          physicalEnvironment: environment.physical,
          cluster: config.cluster,
          runtimeRisks: metadata.runtimeRisks,
          tags: metadata.tags,
          ...(metadata.githubRepository !== undefined ? { githubRepository: metadata.githubRepository } : {})
        }, container)
        switch (outcome._tag) {
          case "NoDigest":
            return undefined
          case "Invalid": {
            metrics.recordInvalid(outcome.field)
            yield* Effect.logWarning("Record violates the API's constraints; not sent").pipe(
              Effect.annotateLogs({ pod: pod.name, container: container.name, field: outcome.field, reason: outcome.reason })
            )
            const { anchor } = attribution
            yield* events.report(
              { kind: anchor.kind, apiVersion: anchor.apiVersion, namespace: anchor.namespace, name: anchor.name, uid: anchor.uid },
              { _tag: "Invalid", deploymentName: outcome.deploymentName, field: outcome.field, reason: outcome.reason }
            )
            return undefined
          }
          case "Ready":
            for (const note of outcome.adjustments) {
              yield* Effect.logInfo("Record adjusted to fit the API").pipe(Effect.annotateLogs({ pod: pod.name, adjustment: note }))
            }
            return outcome.record
        }
      })

    return { build } as const
  })
}) {}
