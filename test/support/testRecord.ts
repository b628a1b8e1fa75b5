import type { DeploymentRecord } from "../../src/record/DeploymentRecord.ts"

/** A `sha256:` digest made of one repeated hex character or pattern. */
export const testDigest = (hex: string): string => `sha256:${hex.repeat(64 / hex.length)}`

/**
 * A valid `deployed` record in the environment of testConfig (logical
 * environment "test", physical "lab", cluster "test-cluster"); tests
 * override what they exercise.
 */
export const testRecord = (overrides: Partial<DeploymentRecord> = {}): DeploymentRecord => ({
  name: "ghcr.io/octo-org/app",
  digest: testDigest("a"),
  version: "1.2.3",
  status: "deployed",
  logical_environment: "test",
  physical_environment: "lab",
  cluster: "test-cluster",
  deployment_name: "default/app/app",
  ...overrides
})
