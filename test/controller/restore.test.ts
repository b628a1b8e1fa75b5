import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option, Queue, Scope, Stream } from "effect"
import { Metrics } from "../../src/observability/Metrics.ts"
import { encodeState, type RememberedName, stateKey } from "../../src/state/deployedState.ts"
import { eventually, expectTrue } from "../support/eventually.ts"
import { metaJson, podJson, watchLine } from "../support/fakeKube.ts"
import { posted, startController } from "./harness.ts"

// The controller with a state ConfigMap from an earlier run: what was
// deployed then is decommissioned now if its workload went away meanwhile,
// and otherwise remembered, so a later delete of the workload decommissions
// it although no pod of it is left.

const DIGEST_A = "a".repeat(64)
const DEPLOYMENTS = "/apis/apps/v1/deployments"
const STATE_PATH = "/api/v1/namespaces/deployment-tracker/configmaps/deployment-tracker-state"
const SCOPE = { org: "octo-org", cluster: "test-cluster", logicalEnvironment: "test" }
const deploymentPath = (name: string) => `/apis/apps/v1/namespaces/default/deployments/${name}`

const rememberedApp = (workload: string, uid: string): RememberedName => ({
  owner: { kind: "Deployment", apiVersion: "apps/v1", namespace: "default", name: workload, uid },
  since: 1,
  record: {
    name: "ghcr.io/octo/app",
    version: "1.0",
    digest: `sha256:${DIGEST_A}`,
    status: "deployed",
    logical_environment: SCOPE.logicalEnvironment,
    physical_environment: "lab",
    cluster: SCOPE.cluster,
    deployment_name: `default/${workload}/app`
  }
})

const stateConfigMap = (names: ReadonlyArray<RememberedName>) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "deployment-tracker-state", namespace: "deployment-tracker", resourceVersion: "7" },
  data: { [stateKey(SCOPE)]: encodeState(SCOPE, names, 1e9).text }
})

const STATE_ON = { deployedState: Option.some({ configMapName: "deployment-tracker-state", namespace: "deployment-tracker" }) }

describe("restoring the deployed state at start", () => {
  it.scopedLive("a remembered Deployment that is gone is decommissioned once; one still there is decommissioned when it is deleted later", () =>
    Effect.gen(function*() {
      const deployments = yield* Queue.unbounded<string>()
      const objects = new Map<string, unknown>([
        [STATE_PATH, stateConfigMap([rememberedApp("gone", "uid-gone"), rememberedApp("kept", "uid-kept")])],
        [deploymentPath("kept"), metaJson("kept", "uid-kept")]
      ])
      const { github, scope } = yield* startController({
        lists: [{ items: [], rv: "10" }],
        watches: ["hang"],
        objects,
        collections: new Map([[DEPLOYMENTS, {
          lists: [{ items: [metaJson("kept", "uid-kept")], rv: "10" }],
          watches: [Stream.fromQueue(deployments)]
        }]])
      }, [], STATE_ON)
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 1, "gone one decommissioned")))
      expect(posted(github.requests)).toEqual(["decommissioned default/gone/app aaa"])

      // No pod of "kept" exists in this run; its delete alone decommissions it.
      objects.delete(deploymentPath("kept"))
      yield* Queue.offer(deployments, watchLine("DELETED", metaJson("kept", "uid-kept", { rv: "12" })))
      yield* eventually(Effect.suspend(() => expectTrue(github.requests.length === 2, "kept one decommissioned")))
      expect(posted(github.requests)).toEqual(["decommissioned default/gone/app aaa", "decommissioned default/kept/app aaa"])
      yield* Scope.close(scope, Exit.void)
      expect(github.requests).toHaveLength(2)
    }))

  it.scopedLive("a remembered name now deployed by a recreated workload (another uid), same image: nothing is sent", () =>
    Effect.gen(function*() {
      const objects = new Map<string, unknown>([
        [STATE_PATH, stateConfigMap([rememberedApp("web", "uid-web-old")])],
        [deploymentPath("web"), metaJson("web", "uid-web-new")],
        ["/apis/apps/v1/namespaces/default/replicasets/web-2", metaJson("web-2", "uid-web-2", { owner: { kind: "Deployment", name: "web", uid: "uid-web-new" } })]
      ])
      const { context, github, scope } = yield* startController({
        lists: [{ items: [podJson("web-2-a", { owner: { kind: "ReplicaSet", name: "web-2", uid: "uid-web-2" }, digest: DIGEST_A })], rv: "10" }],
        watches: ["hang"],
        objects,
        collections: new Map([[DEPLOYMENTS, { lists: [{ items: [metaJson("web", "uid-web-new")], rv: "10" }], watches: ["hang"] }]])
      }, [], STATE_ON)
      // The name runs the image it was reported with: GitHub already has it.
      const metrics = yield* Metrics.pipe(Effect.provide(context))
      yield* eventually(Effect.flatMap(metrics.render, (text) =>
        expectTrue(text.includes('deptracker_events_processed_ok{event_type="CREATED"} 1'), "the pod's reconcile done")))
      yield* Scope.close(scope, Exit.void)
      expect(github.requests).toEqual([])
    }))
})
