import { describe, expect, it } from "@effect/vitest"
import { cronJobOfJob, deploymentOfReplicaSet, workloadOfReplicaSet } from "../../src/workload/ownerNaming.ts"

// Kubernetes' controllers name what they create after themselves
// (`<deployment>-<pod-template-hash>`, `<cronjob>-<scheduled minutes>`);
// these rules undo that when the owner object is not at hand.

describe("workloadOfReplicaSet: the workload behind a ReplicaSet, from names alone", () => {
  const cases: ReadonlyArray<readonly [why: string, replicaSet: string, hash: string | undefined, workload: string]> = [
    ["the pod-template-hash label is the name's suffix: cut exactly", "web-7d9f8b6c5d", "7d9f8b6c5d", "web"],
    ["a workload name with dashes keeps them all", "shop-web-api-7d9f8b6c5d", "7d9f8b6c5d", "shop-web-api"],
    // A hash label that is not the suffix is ignored: the original's rule applies.
    ["a label that is not the suffix: everything before the last dash", "checkout-6c8d9f", "5f6d7", "checkout"],
    ["no label (an Argo Rollout's pods): everything before the last dash", "checkout-6c8d9f", undefined, "checkout"],
    ["an empty label counts as none", "checkout-6c8d9f", "", "checkout"],
    ["no label and dashes in the workload name: only the last part goes", "my-canary-app-6c8d9f", undefined, "my-canary-app"],
    ["a name with no dash is its own workload", "standalone", undefined, "standalone"],
    ["a name that is only the hash is its own workload", "7d9f8b6c5d", "7d9f8b6c5d", "7d9f8b6c5d"],
    ["a leading dash is not a cut", "-6c8d9f", undefined, "-6c8d9f"]
  ]
  for (const [why, replicaSet, hash, workload] of cases) {
    it(`${why}: ${replicaSet} (hash ${String(hash)}) -> ${workload}`, () => {
      expect(workloadOfReplicaSet(replicaSet, hash)).toBe(workload)
    })
  }
})

describe("deploymentOfReplicaSet: a Deployment's name only when the pod's hash label says so", () => {
  const cases: ReadonlyArray<readonly [why: string, replicaSet: string, hash: string | undefined, deployment: string | undefined]> = [
    ["the hash label is the suffix", "web-7d9f8b6c5d", "7d9f8b6c5d", "web"],
    ["dashes in the Deployment name are kept", "shop-web-api-7d9f8b6c5d", "7d9f8b6c5d", "shop-web-api"],
    ["a one-letter Deployment name", "x-7d9f8b6c5d", "7d9f8b6c5d", "x"],
    // Without the label (Argo Rollouts use another one) nothing is guessed.
    ["no hash label", "web-7d9f8b6c5d", undefined, undefined],
    ["an empty hash label", "web-7d9f8b6c5d", "", undefined],
    ["a hash label that is not the suffix", "web-7d9f8b6c5d", "5f6d7", undefined],
    ["the suffix without its dash", "web7d9f8b6c5d", "7d9f8b6c5d", undefined],
    ["nothing before the hash", "-7d9f8b6c5d", "7d9f8b6c5d", undefined],
    ["a name that is only the hash", "7d9f8b6c5d", "7d9f8b6c5d", undefined]
  ]
  for (const [why, replicaSet, hash, deployment] of cases) {
    it(`${why}: ${replicaSet} (hash ${String(hash)}) -> ${String(deployment)}`, () => {
      expect(deploymentOfReplicaSet(replicaSet, hash)).toBe(deployment)
    })
  }
})

describe("cronJobOfJob: a CronJob's name from a Job named <cronjob>-<digits>", () => {
  const cases: ReadonlyArray<readonly [why: string, job: string, cronJob: string | undefined]> = [
    ["scheduled minutes after the last dash", "nightly-28745130", "nightly"],
    ["dashes in the CronJob name are kept", "nightly-report-28745130", "nightly-report"],
    ["a single digit is digits", "db-migrate-1", "db-migrate"],
    ["letters after the last dash: a hand-made Job", "nightly-manual", undefined],
    ["digits with a letter among them", "nightly-2874a130", undefined],
    ["digits followed by more", "nightly-28745130-x", undefined],
    ["nothing after the last dash", "nightly-", undefined],
    ["no dash at all", "28745130", undefined],
    ["nothing before the dash", "-28745130", undefined]
  ]
  for (const [why, job, cronJob] of cases) {
    it(`${why}: ${job} -> ${String(cronJob)}`, () => {
      expect(cronJobOfJob(job)).toBe(cronJob)
    })
  }
})
