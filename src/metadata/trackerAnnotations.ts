import { codePointLength, LIMITS } from "../record/validateRecord.ts"
import type { AnnotationMap, DroppedAnnotation } from "./annotations.ts"

/**
 * The tracker's own annotations (not GitHub's `metadata.github.com/*` tag
 * space): on a Namespace, the environments its pods are reported under; on a
 * workload or a Namespace, an opt-out.
 */
export const TRACKER_ANNOTATION_PREFIX = "deployment-tracker/"
export const LOGICAL_ENVIRONMENT_KEY = `${TRACKER_ANNOTATION_PREFIX}logical-environment`
export const PHYSICAL_ENVIRONMENT_KEY = `${TRACKER_ANNOTATION_PREFIX}physical-environment`
/** `"true"`: the workload (or every workload of the Namespace) is not reported. */
export const IGNORE_KEY = `${TRACKER_ANNOTATION_PREFIX}ignore`

export interface Environment {
  readonly logical: string
  readonly physical: string
}

/** Whether the object opts out of reporting. Only `true` (any case) counts: a typo must not silently drop reports. */
export const isIgnored = (annotations: AnnotationMap): boolean =>
  annotations?.[IGNORE_KEY]?.trim().toLowerCase() === "true"

const lengthProblem = (value: string, limits: { readonly min: number; readonly max: number }) => {
  const length = codePointLength(value)
  return length < limits.min || length > limits.max
    ? `must be ${limits.min} to ${limits.max} characters, got ${length}`
    : undefined
}

/**
 * The environments of a Namespace's pods: its annotations where they are
 * valid (the record schema's limits), else the tracker's own settings. An
 * invalid value is reported and the default used instead.
 */
export const environmentOf = (
  annotations: AnnotationMap,
  defaults: Environment
): { readonly environment: Environment; readonly dropped: ReadonlyArray<DroppedAnnotation> } => {
  const dropped: Array<DroppedAnnotation> = []
  const pick = (key: string, limits: { readonly min: number; readonly max: number }, fallback: string) => {
    const value = annotations?.[key]
    if (value === undefined) return fallback
    const trimmed = value.trim()
    const problem = lengthProblem(trimmed, limits)
    if (problem === undefined) return trimmed
    dropped.push({ key, reason: problem })
    return fallback
  }
  return {
    environment: {
      logical: pick(LOGICAL_ENVIRONMENT_KEY, LIMITS.logical_environment, defaults.logical),
      physical: pick(PHYSICAL_ENVIRONMENT_KEY, LIMITS.physical_environment, defaults.physical)
    },
    dropped
  }
}
