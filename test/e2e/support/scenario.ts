import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { expect, inject, onTestFailed, onTestFinished } from "vitest"
import { Either } from "effect"
import { decodeState, stateKey } from "../../../src/state/deployedState.ts"
import { TRACKER_NAMESPACE } from "./constants.ts"
import { eventually } from "./eventually.ts"
import { GitHubSimulatorClient, type StoredRecord } from "./github.ts"
import { createNamespace, deleteNamespaces, digestsByDeploymentName, kube, type Pod, pods } from "./kube.ts"
import { TrackerProcess } from "./tracker.ts"

/**
 * One end-to-end test's world: its own org (so its records, requests and
 * violations are its own in the shared simulator), its own namespaces, its
 * trackers. Everything is torn down when the test finishes; when it fails,
 * the tail of every tracker's log is printed.
 */
export interface Scenario {
  readonly id: string
  readonly org: string
  readonly cluster: string
  readonly logicalEnvironment: string
  readonly github: GitHubSimulatorClient
  /** Creates a namespace named `<label>-<id>`, deleted when the test ends. */
  readonly namespace: (label: string) => Promise<string>
  /**
   * Starts a tracker for this test's org and waits until it is ready.
   * `githubUrl`: another GitHub (e.g. a simulator of the test's own) instead of the shared one.
   */
  readonly startTracker: (options?: {
    args?: ReadonlyArray<string>
    env?: Readonly<Record<string, string>>
    githubUrl?: string
  }) => Promise<TrackerProcess>
  /** Records of this test's org whose deployment_name lies in `namespace`. */
  readonly recordsIn: (namespace: string) => Promise<ReadonlyArray<StoredRecord>>
  readonly expectNoViolations: () => Promise<void>
  /**
   * The deployment_names this test's trackers keep in the state ConfigMap
   * (the manifest's `deployment-tracker-state`, under this test's own key).
   */
  readonly rememberedNames: () => Promise<ReadonlyArray<string>>
}

/** deploy/manifest.yaml's state ConfigMap, which its Role allows. */
export const STATE_CONFIGMAP = "deployment-tracker-state"

export const useScenario = (
  label: string,
  options: {
    /** For `it.fails` tests: no log tails when the expected failure happens. */
    readonly expectFailure?: boolean
  } = {}
): Scenario => {
  const id = randomBytes(3).toString("hex")
  const org = `e2e-${label}-${id}`
  const namespaces: Array<string> = []
  const trackers: Array<TrackerProcess> = []
  const github = new GitHubSimulatorClient(inject("githubOrigin"), org)

  onTestFinished(async () => {
    await Promise.all(trackers.map((t) => t.stop("SIGTERM").catch(() => undefined).then(() => t.close())))
    await github.clearFaults()
    await deleteNamespaces(namespaces)
  })
  onTestFailed(() => {
    if (options.expectFailure === true) return
    for (const [index, tracker] of trackers.entries()) {
      process.stderr.write(
        `\n--- tracker ${index} of ${org} (${tracker.options.logFile}), last lines ---\n${tracker.tail(80)}\n--- end ---\n`
      )
    }
  })

  return {
    id,
    org,
    cluster: `kwok-${id}`,
    logicalEnvironment: "e2e",
    github,
    namespace: async (nsLabel) => {
      const name = `${nsLabel}-${id}`
      namespaces.push(name)
      await createNamespace(name)
      return name
    },
    startTracker: async (options = {}) => {
      const tracker = await TrackerProcess.start({
        kubeconfig: inject("trackerKubeconfig"),
        githubUrl: options.githubUrl ?? inject("githubUrl"),
        org,
        cluster: `kwok-${id}`,
        logicalEnvironment: "e2e",
        logFile: join(inject("logDir"), `${org}-${trackers.length}.log`),
        ...(options.args === undefined ? {} : { args: options.args }),
        ...(options.env === undefined ? {} : { env: options.env })
      })
      trackers.push(tracker)
      return tracker
    },
    recordsIn: async (namespace) => (await github.records()).filter((r) => r.deployment_name.startsWith(`${namespace}/`)),
    expectNoViolations: async () => {
      expect(await github.violations(), JSON.stringify(await github.violations(), null, 1).slice(0, 3000)).toEqual([])
    },
    rememberedNames: async () => {
      const scope = { org, cluster: `kwok-${id}`, logicalEnvironment: "e2e" }
      const found = await kube(["get", "configmap", STATE_CONFIGMAP, "-n", TRACKER_NAMESPACE, "-o", "json", "--ignore-not-found"])
      const text = found.trim() === "" ? undefined : (JSON.parse(found) as { data?: Record<string, string> }).data?.[stateKey(scope)]
      if (text === undefined) return []
      return Either.getOrThrow(decodeState(scope, text)).map((name) => name.record.deployment_name).sort()
    }
  }
}

export type Status = "deployed" | "decommissioned"

/** What the records of one workload should say: deployment_name -> digest. */
export type Expected = ReadonlyMap<string, string>

/**
 * The digests the pods of a workload run, once they all run the same ones
 * (a finished rollout): `<ns>/<workload>/<container>` -> digest, for every
 * container and init container. Polls until every pod is Running (or
 * Succeeded, for Job pods) with its imageIDs set and `count` pods exist.
 */
export const runningDigests = (
  namespace: string,
  workload: string,
  selector: string,
  options: { readonly count?: number; readonly phase?: "Running" | "Succeeded"; readonly deadlineMs?: number } = {}
): Promise<Expected> =>
  eventually(`pods of ${namespace}/${workload} ${options.phase ?? "Running"}`, async () => {
    const all: ReadonlyArray<Pod> = (await pods(namespace, selector)).filter((p) => p.metadata.deletionTimestamp === undefined)
    const phase = options.phase ?? "Running"
    const notYet = all.filter((p) => p.status.phase !== phase)
    if (all.length === 0 || notYet.length > 0) {
      throw new Error(`${all.length} pods, not ${phase}: ${notYet.map((p) => `${p.metadata.name}=${p.status.phase}`).join(", ")}`)
    }
    if (options.count !== undefined && all.length !== options.count) throw new Error(`${all.length} pods, want ${options.count}`)
    const digests = digestsByDeploymentName(namespace, workload, all)
    const expected = new Map<string, string>()
    for (const [name, set] of digests) {
      if (set.size !== 1) throw new Error(`${name}: pods run different digests ${[...set].join(", ")} (rollout in progress)`)
      expected.set(name, [...set][0]!)
    }
    return expected
  }, { deadlineMs: options.deadlineMs ?? 60_000 })

/** Waits until the simulator holds exactly these records (status and digest) for the workload's names. */
export const recordsLand = (
  scenario: Scenario,
  expected: Expected,
  status: Status,
  deadlineMs = 60_000
): Promise<ReadonlyArray<StoredRecord>> =>
  eventually(`${status} records for ${[...expected.keys()].join(", ")}`, async () => {
    const records = await scenario.github.records()
    const relevant = records.filter((r) => expected.has(r.deployment_name))
    expect(
      Object.fromEntries(relevant.map((r) => [r.deployment_name, { status: r.status, digest: r.digest }]))
    ).toEqual(Object.fromEntries([...expected].map(([name, digest]) => [name, { status, digest }])))
    return relevant
  }, { deadlineMs })
