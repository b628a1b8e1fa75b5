import { Effect, Layer } from "effect"
import type { Config } from "../../src/config/Config.ts"
import { type GitHubAuth, GitHubAuthLive } from "../../src/github/GitHubAuth.ts"
import { GitHubRequester } from "../../src/github/GitHubRequester.ts"
import type { InstallationRefused } from "../../src/github/installationToken.ts"
import { RateLimitGate } from "../../src/github/RateLimitGate.ts"
import { Metrics } from "../../src/observability/Metrics.ts"

/**
 * What the GitHub clients need, wired as ControllerAppLive wires it: the
 * credential (from the configuration unless a test brings its own), one
 * requester, the metrics and the rate-limit gate. Needs Config.
 */
export const gitHubLayer = (
  auth: Layer.Layer<GitHubAuth, InstallationRefused, Config | GitHubRequester> = GitHubAuthLive
) => auth.pipe(Layer.provideMerge(GitHubRequester.Default), Layer.provideMerge(Layer.mergeAll(Metrics.Default, RateLimitGate.Default)))

/** The sum of a metric's values (over all its labels) in the Metrics service. */
export const metricValue = (name: string) =>
  Effect.gen(function*() {
    const metrics = yield* Metrics
    const found = (yield* Effect.promise(() => metrics.registry.getMetricsAsJSON())).find((m) => m.name === name)
    return found?.values.reduce((sum, v) => sum + v.value, 0) ?? 0
  })
