import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, TestClock } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  inClusterServer,
  makeInClusterCredentials,
  type ServiceAccountFiles,
  TOKEN_REREAD_PERIOD
} from "../../src/kube/inClusterCredentials.ts"

/** A service account folder as the kubelet mounts it, in a temporary folder. */
const serviceAccount = (files: { token?: string; ca?: string } = { token: "token-1", ca: "PEM" }): ServiceAccountFiles => {
  const dir = mkdtempSync(join(tmpdir(), "dt-sa-"))
  const paths = { token: join(dir, "token"), ca: join(dir, "ca.crt") }
  if (files.token !== undefined) writeFileSync(paths.token, files.token)
  if (files.ca !== undefined) writeFileSync(paths.ca, files.ca)
  return paths
}

const SERVICE = { host: "10.96.0.1", port: "443" }

const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.map(Effect.either(effect), Either.getLeft)

describe("in-cluster credentials", () => {
  it("the server is https on the service's host and port, an IPv6 host in brackets", () => {
    expect(inClusterServer("10.96.0.1", "443")).toBe("https://10.96.0.1:443")
    expect(inClusterServer("fd00:10:96::1", "443")).toBe("https://[fd00:10:96::1]:443")
    expect(inClusterServer("::1", "6443")).toBe("https://[::1]:6443")
    expect(inClusterServer("kubernetes.default.svc", "443")).toBe("https://kubernetes.default.svc:443")
    // What the URL parser makes of it: the host as an IPv6 literal, not a port.
    expect(new URL(inClusterServer("fd00:10:96::1", "8443")).port).toBe("8443")
  })

  it.effect("sends the token from the file and the CA from ca.crt", () =>
    Effect.gen(function*() {
      const files = serviceAccount({ token: "token-1\n", ca: "-----BEGIN CERTIFICATE-----\n" })
      const credentials = yield* makeInClusterCredentials({ host: "fd00::1", port: "443" }, files)
      expect(credentials.server).toBe("https://[fd00::1]:443")
      expect(credentials.source).toBe("in-cluster config")
      // Trailing whitespace (a newline from an editor or a Secret) is not part of the token.
      expect(yield* credentials.headers).toEqual({ authorization: "Bearer token-1" })
      expect((yield* credentials.tls).ca?.toString()).toBe("-----BEGIN CERTIFICATE-----\n")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("a rotated token is read again once a minute has passed since the last read, as client-go does", () =>
    Effect.gen(function*() {
      const files = serviceAccount()
      const credentials = yield* makeInClusterCredentials(SERVICE, files)
      expect(yield* credentials.headers).toEqual({ authorization: "Bearer token-1" })

      writeFileSync(files.token, "token-2")
      yield* TestClock.adjust(Duration.subtract(TOKEN_REREAD_PERIOD, Duration.seconds(1)))
      expect(yield* credentials.headers).toEqual({ authorization: "Bearer token-1" })
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* credentials.headers).toEqual({ authorization: "Bearer token-2" })

      // The next rotation waits for the next period again.
      writeFileSync(files.token, "token-3")
      yield* TestClock.adjust(Duration.seconds(30))
      expect(yield* credentials.headers).toEqual({ authorization: "Bearer token-2" })
      yield* TestClock.adjust(Duration.seconds(30))
      expect(yield* credentials.headers).toEqual({ authorization: "Bearer token-3" })
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("a token file that vanishes or empties after start-up keeps the last token (it lives an hour)", () =>
    Effect.gen(function*() {
      const files = serviceAccount()
      const credentials = yield* makeInClusterCredentials(SERVICE, files)
      rmSync(files.token)
      yield* TestClock.adjust(TOKEN_REREAD_PERIOD)
      expect(yield* credentials.headers).toEqual({ authorization: "Bearer token-1" })
      writeFileSync(files.token, "  \n")
      yield* TestClock.adjust(TOKEN_REREAD_PERIOD)
      expect(yield* credentials.headers).toEqual({ authorization: "Bearer token-1" })
      writeFileSync(files.token, "token-2")
      yield* TestClock.adjust(TOKEN_REREAD_PERIOD)
      expect(yield* credentials.headers).toEqual({ authorization: "Bearer token-2" })
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("missing or empty files and a missing port fail at start-up, naming the file or the setting", () =>
    Effect.gen(function*() {
      const noCa = serviceAccount({ token: "t" })
      expect(yield* failure(makeInClusterCredentials(SERVICE, noCa))).toMatchObject({
        value: {
          _tag: "InClusterConfigError",
          setting: "in-cluster config",
          message: `cannot read the service account CA ${noCa.ca}: no such file`
        }
      })
      const noToken = serviceAccount({ ca: "PEM" })
      expect(yield* failure(makeInClusterCredentials(SERVICE, noToken))).toMatchObject({
        value: { setting: "in-cluster config", message: `cannot read the service account token ${noToken.token}: no such file` }
      })
      const empty = serviceAccount({ token: "\n", ca: "PEM" })
      expect(yield* failure(makeInClusterCredentials(SERVICE, empty))).toMatchObject({
        value: { setting: "in-cluster config", message: `the service account token ${empty.token} is empty` }
      })
      const files = serviceAccount()
      expect(yield* failure(makeInClusterCredentials({ host: "10.96.0.1", port: undefined }, files))).toMatchObject({
        value: { setting: "KUBERNETES_SERVICE_PORT", message: "KUBERNETES_SERVICE_HOST is set but KUBERNETES_SERVICE_PORT is not" }
      })
      expect(yield* failure(makeInClusterCredentials({ host: "10.96.0.1", port: "https" }, files))).toMatchObject({
        value: { setting: "KUBERNETES_SERVICE_PORT", message: `KUBERNETES_SERVICE_PORT "https" is not a port number` }
      })
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
