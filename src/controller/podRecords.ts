import { Effect } from "effect"
import { Config } from "../config/Config.ts"
import type { SlimPod } from "../kube/SlimPod.ts"
import { aggregateAnnotations, GITHUB_REPOSITORY_KEY, RUNTIME_RISKS_KEY } from "../metadata/annotations.ts"
import { Metrics } from "../observability/Metrics.ts"
import type { DeploymentRecord, RecordStatus } from "../record/DeploymentRecord.ts"
import { buildRecords } from "../record/buildRecords.ts"
import type { Workload } from "../workload/Workload.ts"

const annotationKind = (key: string) =>
  key === RUNTIME_RISKS_KEY ? "runtime-risks" as const : key === GITHUB_REPOSITORY_KEY ? "github-repository" as const : "tag" as const

/**
 * A pod's records (one per container and init container), with the
 * annotation metadata of the pod and its owner chain. What cannot be sent is
 * logged and counted: a container without a digest yet, a record the API
 * would reject, an invalid annotation (left out; the record still goes).
 */
export const makePodRecords = Effect.gen(function*() {
  const config = yield* Config
  const metrics = yield* Metrics

  return (pod: SlimPod, workload: Workload, status: RecordStatus): Effect.Effect<ReadonlyArray<DeploymentRecord>> =>
    Effect.gen(function*() {
      const metadata = aggregateAnnotations([pod.annotations, ...workload.ownerAnnotations])
      for (const dropped of metadata.dropped) {
        metrics.annotationInvalid(annotationKind(dropped.key))
        yield* Effect.logWarning("Invalid annotation left out of the records").pipe(
          Effect.annotateLogs({ annotation: dropped.key, reason: dropped.reason })
        )
      }
      const outcomes = buildRecords({
        pod,
        status,
        workloadName: workload.name,
        template: config.deploymentNameTemplate,
        logicalEnvironment: config.logicalEnvironment,
        physicalEnvironment: config.physicalEnvironment,
        cluster: config.cluster,
        runtimeRisks: metadata.runtimeRisks,
        tags: metadata.tags,
        ...(metadata.githubRepository !== undefined ? { githubRepository: metadata.githubRepository } : {})
      })
      const ready: Array<DeploymentRecord> = []
      for (const outcome of outcomes) {
        switch (outcome._tag) {
          case "NoDigest":
            yield* Effect.logDebug("Container has no image digest yet; skipping").pipe(
              Effect.annotateLogs({ container: outcome.container.name })
            )
            break
          case "Invalid":
            metrics.recordInvalid(outcome.field)
            yield* Effect.logWarning("Record violates the API's constraints; not sent").pipe(
              Effect.annotateLogs({ container: outcome.container.name, field: outcome.field, reason: outcome.reason })
            )
            break
          case "Ready":
            for (const note of outcome.adjustments) {
              yield* Effect.logInfo("Record adjusted to fit the API").pipe(Effect.annotateLogs({ adjustment: note }))
            }
            ready.push(outcome.record)
        }
      }
      return ready
    })
})
