/**
 * Workload names read off owner names, for when the owner object itself is
 * not at hand. Kubernetes' controllers name what they create after
 * themselves, and these rules undo that.
 */

/**
 * The workload behind a ReplicaSet named `<workload>-<hash>`. With the
 * pod's `pod-template-hash` label the cut is exact; without it (or when the
 * name does not end in it), the original's rule: everything before the last
 * dash. A name with no dash is its own workload.
 */
export const workloadOfReplicaSet = (replicaSetName: string, templateHash: string | undefined): string => {
  if (templateHash !== undefined && templateHash !== "") {
    const suffix = `-${templateHash}`
    if (replicaSetName.length > suffix.length && replicaSetName.endsWith(suffix)) {
      return replicaSetName.slice(0, -suffix.length)
    }
  }
  const cut = replicaSetName.lastIndexOf("-")
  return cut > 0 ? replicaSetName.slice(0, cut) : replicaSetName
}

/**
 * The Deployment a ReplicaSet belongs to, read from names alone: only when
 * the pod's `pod-template-hash` label is the ReplicaSet name's suffix, which
 * is how a Deployment names its ReplicaSets (Argo Rollouts use another
 * label). Undefined otherwise.
 */
export const deploymentOfReplicaSet = (replicaSetName: string, templateHash: string | undefined): string | undefined => {
  if (templateHash === undefined || templateHash === "") return undefined
  const suffix = `-${templateHash}`
  return replicaSetName.length > suffix.length && replicaSetName.endsWith(suffix)
    ? replicaSetName.slice(0, -suffix.length)
    : undefined
}

/** A CronJob names its Jobs `<cronjob>-<scheduled time in minutes>`; undefined for other names. */
export const cronJobOfJob = (jobName: string): string | undefined => {
  const cut = jobName.lastIndexOf("-")
  if (cut <= 0 || cut === jobName.length - 1) return undefined
  for (let index = cut + 1; index < jobName.length; index++) {
    const code = jobName.charCodeAt(index)
    if (code < 48 || code > 57) return undefined
  }
  return jobName.slice(0, cut)
}
