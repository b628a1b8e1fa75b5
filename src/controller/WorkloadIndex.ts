import { Effect } from "effect"
import type { Attribution } from "../workload/Attribution.ts"

/**
 * Which pods run under which workload key, and what each pod was
 * attributed to while it lives. The attribution stays with the pod when
 * its owner references go (orphan deletion) or its owner is gone: the
 * image still runs under that name.
 *
 * Written only by the pod watch's consumer; read by the workers. Plain
 * maps: every change is one synchronous step.
 */
export class WorkloadIndex extends Effect.Service<WorkloadIndex>()("deployment-tracker/WorkloadIndex", {
  sync: () => {
    const byPod = new Map<string, Attribution>()
    const byKey = new Map<string, Set<string>>()
    // Attributions are shared by the pods of one owner (by its uid), so a
    // rollout of 100 replicas holds one object, and one read found it.
    const byOwner = new Map<string, { readonly attribution: Attribution; pods: number }>()
    const ownerOfPod = new Map<string, string>()

    const unlink = (podKey: string) => {
      const before = byPod.get(podKey)
      if (before === undefined) return undefined
      byPod.delete(podKey)
      const pods = byKey.get(before.key)
      pods?.delete(podKey)
      if (pods?.size === 0) byKey.delete(before.key)
      const ownerUid = ownerOfPod.get(podKey)
      ownerOfPod.delete(podKey)
      if (ownerUid !== undefined) {
        const shared = byOwner.get(ownerUid)
        if (shared !== undefined && --shared.pods <= 0) byOwner.delete(ownerUid)
      }
      return before
    }

    return {
      attributionOf: (podKey: string): Attribution | undefined => byPod.get(podKey),
      /** The attribution already found for pods of this owner (by uid), if any. */
      ofOwner: (ownerUid: string): Attribution | undefined => byOwner.get(ownerUid)?.attribution,
      /**
       * The pod runs under `attribution` (found from the owner `ownerUid`).
       * Returns the key it ran under before, when that was another one.
       */
      assign: (podKey: string, ownerUid: string, attribution: Attribution): string | undefined => {
        const before = unlink(podKey)
        const shared = ownerUid === "" ? undefined : byOwner.get(ownerUid)
        let kept = attribution
        if (ownerUid !== "" && shared === undefined) {
          byOwner.set(ownerUid, { attribution, pods: 1 })
          ownerOfPod.set(podKey, ownerUid)
        } else if (shared !== undefined && shared.attribution.key === attribution.key) {
          kept = shared.attribution
          shared.pods++
          ownerOfPod.set(podKey, ownerUid)
        }
        byPod.set(podKey, kept)
        let pods = byKey.get(kept.key)
        if (pods === undefined) byKey.set(kept.key, pods = new Set())
        pods.add(podKey)
        return before !== undefined && before.key !== kept.key ? before.key : undefined
      },
      /** The pod is gone: returns what it ran under. */
      release: (podKey: string): Attribution | undefined => unlink(podKey),
      podsOf: (key: string): ReadonlySet<string> => byKey.get(key) ?? EMPTY,
      keys: (): IterableIterator<string> => byKey.keys(),
      pods: (): number => byPod.size,
      workloads: (): number => byKey.size
    } as const
  }
}) {}

const EMPTY: ReadonlySet<string> = new Set()
