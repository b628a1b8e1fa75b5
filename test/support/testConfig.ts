import { Duration, Layer, Option, Redacted } from "effect"
import { Config, type ControllerConfig } from "../../src/config/Config.ts"
import { DEFAULT_TEMPLATE } from "../../src/record/deploymentName.ts"

export const TEST_TOKEN = "ghp_test_token_0123456789"

/** A complete, valid configuration; tests override what they exercise. */
export const testConfig = (overrides: Partial<ControllerConfig> = {}): ControllerConfig => ({
  kubeconfig: Option.none(),
  namespaces: { _tag: "All" },
  namespaceSelector: Option.none(),
  workers: 2,
  metricsPort: 0,
  org: "octo-org",
  logicalEnvironment: "test",
  physicalEnvironment: "lab",
  cluster: "test-cluster",
  baseUrl: "http://127.0.0.1:1",
  deploymentNameTemplate: DEFAULT_TEMPLATE,
  bulkClusterSync: false,
  credentials: { _tag: "Token", token: Redacted.make(TEST_TOKEN) },
  logLevel: "INFO",
  apiRatePerSecond: 0,
  apiBurst: 20,
  apiRequestTimeout: Duration.seconds(5),
  shutdownDrainTimeout: Duration.seconds(5),
  dryRun: false,
  // Off unless a test is about them: the scripted Kubernetes APIs take no Event writes.
  kubeEvents: false,
  podName: Option.none(),
  leaderElection: Option.none(),
  deployedState: Option.none(),
  tracing: Option.none(),
  resyncPeriod: Option.none(),
  kubeApiQps: 0,
  kubeApiBurst: 40,
  ...overrides
})

export const testConfigLayer = (overrides: Partial<ControllerConfig> = {}) =>
  Layer.succeed(Config, testConfig(overrides))
