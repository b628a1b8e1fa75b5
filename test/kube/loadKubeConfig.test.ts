import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Redacted } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type CredentialLocations, loadKubeConfig } from "../../src/kube/loadKubeConfig.ts"

/** A kubeconfig naming `server` (and a proxy-url, if given), with a bearer token. */
const kubeconfig = (dir: string, name: string, server: string, proxyUrl?: string) => {
  const path = join(dir, name)
  writeFileSync(path, [
    "apiVersion: v1",
    "kind: Config",
    `clusters: [{name: c-${name}, cluster: {server: '${server}'${proxyUrl === undefined ? "" : `, proxy-url: '${proxyUrl}'`}}}]`,
    `users: [{name: u-${name}, user: {token: token-of-${name}}}]`,
    `contexts: [{name: x-${name}, context: {cluster: c-${name}, user: u-${name}}}]`,
    `current-context: x-${name}`
  ].join("\n"))
  return path
}

/** Every place credentials can come from, each pointing at its own server. */
const places = (options: { serviceAccount?: boolean; home?: boolean } = {}) => {
  const dir = mkdtempSync(join(tmpdir(), "dt-kubeconfig-"))
  const locations: CredentialLocations = {
    serviceAccount: { token: join(dir, "token"), ca: join(dir, "ca.crt") },
    homeKubeconfig: join(dir, "home-config")
  }
  if (options.serviceAccount !== false) {
    writeFileSync(locations.serviceAccount.token, "sa-token")
    writeFileSync(locations.serviceAccount.ca, "PEM")
  }
  if (options.home !== false) kubeconfig(dir, "home-config", "https://home.example:6443")
  return {
    locations,
    flag: kubeconfig(dir, "flag-config", "https://flag.example:6443"),
    env: kubeconfig(dir, "env-config", "https://env.example:6443")
  }
}

const IN_CLUSTER = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }

const load = (flag: string | undefined, env: Record<string, string>, locations: CredentialLocations) =>
  loadKubeConfig(Option.fromNullable(flag), env, locations).pipe(
    Effect.map((c) => ({ source: c.source, server: c.server })),
    Effect.provide(NodeFileSystem.layer)
  )

describe("loadKubeConfig: the original's order", () => {
  it.effect("-kubeconfig, then KUBECONFIG, then the pod's service account, then ~/.kube/config", () =>
    Effect.gen(function*() {
      const p = places()
      const kubeconfigEnv = { ...IN_CLUSTER, KUBECONFIG: p.env }
      expect(yield* load(p.flag, kubeconfigEnv, p.locations)).toEqual({ source: "-kubeconfig", server: "https://flag.example:6443" })
      expect(yield* load(undefined, kubeconfigEnv, p.locations)).toEqual({ source: "KUBECONFIG", server: "https://env.example:6443" })
      // A list of files is merged; the first file's current context wins.
      expect(yield* load(undefined, { KUBECONFIG: `${p.env}:${p.flag}` }, p.locations)).toEqual({ source: "KUBECONFIG", server: "https://env.example:6443" })
      expect(yield* load(undefined, IN_CLUSTER, p.locations)).toEqual({ source: "in-cluster config", server: "https://10.96.0.1:443" })
      expect(yield* load(undefined, {}, p.locations)).toEqual({ source: "~/.kube/config", server: "https://home.example:6443" })
      // KUBERNETES_SERVICE_HOST without the token file (automountServiceAccountToken: false): not in-cluster.
      const noToken = places({ serviceAccount: false })
      expect(yield* load(undefined, IN_CLUSTER, noToken.locations)).toEqual({ source: "~/.kube/config", server: "https://home.example:6443" })
    }))

  it.effect("the kubeconfig's credentials are sent as headers", () =>
    Effect.gen(function*() {
      const p = places()
      const credentials = yield* loadKubeConfig(Option.some(p.flag), {}, p.locations)
      expect(yield* credentials.headers).toMatchObject({ Authorization: "Bearer token-of-flag-config" })
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("no credentials anywhere, or a broken in-cluster setup: one message naming the setting", () =>
    Effect.gen(function*() {
      const errorOf = (flag: string | undefined, env: Record<string, string>, locations: CredentialLocations) =>
        load(flag, env, locations).pipe(Effect.either, Effect.map(Either.getLeft), Effect.map(Option.getOrThrow))
      const none = places({ serviceAccount: false, home: false })
      expect(yield* errorOf(undefined, {}, none.locations)).toMatchObject({
        setting: "-kubeconfig",
        message: "no cluster credentials: pass -kubeconfig, set KUBECONFIG, run in a pod, or create ~/.kube/config"
      })
      expect((yield* errorOf(undefined, IN_CLUSTER, none.locations)).message)
        .toContain(`KUBERNETES_SERVICE_HOST is set but ${none.locations.serviceAccount.token} does not exist`)
      expect(yield* errorOf("/nonexistent/kubeconfig", {}, none.locations)).toMatchObject({
        setting: "-kubeconfig",
        message: "file /nonexistent/kubeconfig does not exist"
      })
      const p = places()
      expect(yield* errorOf(undefined, { KUBERNETES_SERVICE_HOST: "10.96.0.1" }, p.locations)).toMatchObject({
        setting: "KUBERNETES_SERVICE_PORT"
      })
      const plain = kubeconfig(mkdtempSync(join(tmpdir(), "dt-kubeconfig-")), "plain", "http://127.0.0.1:8080")
      expect(yield* errorOf(plain, {}, p.locations)).toMatchObject({
        setting: "-kubeconfig",
        message: "plain http:// API server http://127.0.0.1:8080 needs insecure-skip-tls-verify: true"
      })
    }))

  it.effect("a cluster's proxy-url is used for the API server; none in-cluster (client-go's InClusterConfig has none)", () =>
    Effect.gen(function*() {
      const p = places()
      const dir = mkdtempSync(join(tmpdir(), "dt-kubeconfig-"))
      const proxied = kubeconfig(dir, "proxied", "https://api.example:6443", "http://user:secret@proxy.example:3128")
      const credentials = yield* loadKubeConfig(Option.some(proxied), {}, p.locations)
      expect(Option.map(credentials.proxy, Redacted.value)).toEqual(Option.some("http://user:secret@proxy.example:3128/"))
      expect((yield* loadKubeConfig(Option.some(p.flag), {}, p.locations)).proxy).toEqual(Option.none())
      expect((yield* loadKubeConfig(Option.none(), IN_CLUSTER, p.locations)).proxy).toEqual(Option.none())
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("a SOCKS5 or malformed proxy-url stops the start, naming the setting the kubeconfig came from and the cluster, credentials masked", () =>
    Effect.gen(function*() {
      const p = places()
      const dir = mkdtempSync(join(tmpdir(), "dt-kubeconfig-"))
      const socks = kubeconfig(dir, "socks", "https://api.example:6443", "socks5://user:secret@proxy.example:1080")
      const errorOf = (flag: string | undefined, env: Record<string, string>) =>
        load(flag, env, p.locations).pipe(Effect.either, Effect.map(Either.getLeft), Effect.map(Option.getOrThrow))
      expect(yield* errorOf(socks, {})).toMatchObject({
        setting: "-kubeconfig",
        message: `proxy-url "socks5://***@proxy.example:1080" of cluster "c-socks" is a SOCKS5 proxy, which this tracker does not support; use an http:// or https:// proxy`
      })
      const bare = kubeconfig(dir, "bare", "https://api.example:6443", "proxy.example:3128")
      expect(yield* errorOf(undefined, { KUBECONFIG: bare })).toMatchObject({
        setting: "KUBECONFIG",
        message: `proxy-url "proxy.example:3128" of cluster "c-bare" is not a URL such as http://proxy.corp.example:3128`
      })
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
