/**
 * The body of POST /orgs/{org}/artifacts/metadata/deployment-record, as
 * GitHub's OpenAPI description defines it (see record/validate.ts for the
 * constraints each field must meet before it is sent).
 */
export type RecordStatus = "deployed" | "decommissioned"

export type RuntimeRisk = "critical-resource" | "internet-exposed" | "lateral-movement" | "sensitive-data"

export interface DeploymentRecord {
  readonly name: string
  readonly digest: string
  readonly version?: string
  readonly status: RecordStatus
  readonly logical_environment: string
  readonly physical_environment: string
  readonly cluster: string
  readonly deployment_name: string
  readonly runtime_risks?: ReadonlyArray<RuntimeRisk>
  readonly tags?: Readonly<Record<string, string>>
  readonly github_repository?: string
}
