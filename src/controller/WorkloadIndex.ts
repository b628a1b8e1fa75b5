import { Effect } from "effect"
import type { Attribution } from "../workload/Attribution.ts"

/**
 * A pod's attribution and the owner (by uid) it was found from. Pods of one
 * owner share one link (and so one attribution: a rollout of 100 replicas
 * holds one object, and one read found it); `pods` counts them.
 */
interface Link {
  readonly attribution: Attribution
  /** "" for a link of its own (no owner uid, or the owner's pods disagree). */
  readonly ownerUid: string
  pods: number
}

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
    // One entry per pod here and in its key's set: at 100,000 pods every
    // map keyed by pod costs some 4-5 MiB, so the owner is in the link.
    const byPod = new Map<string, Link>()
    const byKey = new Map<string, Set<string>>()
    const byOwner = new Map<string, Link>()

    const unlink = (podKey: string): Attribution | undefined => {
      const link = byPod.get(podKey)
      if (link === undefined) return undefined
      byPod.delete(podKey)
      const pods = byKey.get(link.attribution.key)
      pods?.delete(podKey)
      if (pods?.size === 0) byKey.delete(link.attribution.key)
      if (--link.pods <= 0 && link.ownerUid !== "" && byOwner.get(link.ownerUid) === link) byOwner.delete(link.ownerUid)
      return link.attribution
    }

    return {
      attributionOf: (podKey: string): Attribution | undefined => byPod.get(podKey)?.attribution,
      /** The attribution already found for pods of this owner (by uid), if any. */
      ofOwner: (ownerUid: string): Attribution | undefined => byOwner.get(ownerUid)?.attribution,
      /**
       * The pod runs under `attribution` (found from the owner `ownerUid`).
       * Returns the key it ran under before, when that was another one.
       */
      assign: (podKey: string, ownerUid: string, attribution: Attribution): string | undefined => {
        const before = unlink(podKey)
        const shared = ownerUid === "" ? undefined : byOwner.get(ownerUid)
        let link: Link
        if (ownerUid !== "" && shared === undefined) {
          link = { attribution, ownerUid, pods: 1 }
          byOwner.set(ownerUid, link)
        } else if (shared !== undefined && shared.attribution.key === attribution.key) {
          link = shared
          shared.pods++
        } else {
          link = { attribution, ownerUid: "", pods: 1 }
        }
        byPod.set(podKey, link)
        const key = link.attribution.key
        let pods = byKey.get(key)
        if (pods === undefined) byKey.set(key, pods = new Set())
        pods.add(podKey)
        return before !== undefined && before.key !== key ? before.key : undefined
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
