import type { DeploymentRecord } from "./DeploymentRecord.ts"

const sameList = (left: ReadonlyArray<string> | undefined, right: ReadonlyArray<string> | undefined): boolean => {
  const a = left ?? []
  const b = right ?? []
  return a.length === b.length && a.every((item, index) => item === b[index])
}

const sameTags = (left: Readonly<Record<string, string>> | undefined, right: Readonly<Record<string, string>> | undefined): boolean => {
  const a = Object.entries(left ?? {})
  const b = right ?? {}
  return a.length === Object.keys(b).length && a.every(([key, value]) => b[key] === value)
}

/** Whether GitHub would be told anything new by sending `right` after `left`. */
export const sameRecord = (left: DeploymentRecord, right: DeploymentRecord): boolean =>
  left.deployment_name === right.deployment_name &&
  left.status === right.status &&
  left.digest === right.digest &&
  left.name === right.name &&
  left.version === right.version &&
  left.logical_environment === right.logical_environment &&
  left.physical_environment === right.physical_environment &&
  left.cluster === right.cluster &&
  left.github_repository === right.github_repository &&
  sameList(left.runtime_risks, right.runtime_risks) &&
  sameTags(left.tags, right.tags)
