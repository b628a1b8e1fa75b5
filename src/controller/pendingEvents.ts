import type { WorkEvent } from "./PodEvent.ts"

/**
 * Adds an event to the ones waiting for a pod. Consecutive events of the
 * same type collapse into the newest (its snapshot is the most recent
 * state); a change of type is kept, so a pod deleted and recreated under
 * the same name (StatefulSets do this) is reported in order.
 */
export const appendEvent = (
  waiting: ReadonlyArray<WorkEvent> | undefined,
  event: WorkEvent
): ReadonlyArray<WorkEvent> => {
  if (waiting === undefined || waiting.length === 0) return [event]
  const last = waiting[waiting.length - 1]!
  return last.type === event.type ? [...waiting.slice(0, -1), event] : [...waiting, event]
}
