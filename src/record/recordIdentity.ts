import type { DeploymentRecord } from "./DeploymentRecord.ts"

/**
 * What GitHub keeps one record for: (logical environment, physical
 * environment, cluster, deployment_name); the cluster is the tracker's own.
 * A name moved to another environment is another record.
 */
export const recordIdentity = (record: Pick<DeploymentRecord, "logical_environment" | "physical_environment" | "deployment_name">): string =>
  `${record.logical_environment}\n${record.physical_environment}\n${record.deployment_name}`
