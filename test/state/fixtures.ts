import type { RememberedName, StateScope } from "../../src/state/deployedState.ts"

export const SCOPE: StateScope = { org: "octo-org", cluster: "test-cluster", logicalEnvironment: "test" }

/** A remembered name of a Deployment in namespace `shop`, as a tracker of SCOPE reports it. */
export const remembered = (
  workload: string,
  container: string,
  since: number,
  uid = `uid-${workload}`,
  digestHex = "ab".repeat(32)
): RememberedName => ({
  owner: { kind: "Deployment", apiVersion: "apps/v1", namespace: "shop", name: workload, uid },
  since,
  record: {
    name: `ghcr.io/octo-org/${workload}`,
    version: "1.4.2",
    digest: `sha256:${digestHex}`,
    status: "deployed",
    logical_environment: SCOPE.logicalEnvironment,
    physical_environment: "eu-west-1",
    cluster: SCOPE.cluster,
    deployment_name: `shop/${workload}/${container}`,
    runtime_risks: ["internet-exposed"],
    tags: { team: "payments" }
  }
})

