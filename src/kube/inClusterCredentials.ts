import * as FileSystem from "@effect/platform/FileSystem"
import type { PlatformError } from "@effect/platform/Error"
import { isIPv6 } from "node:net"
import { Clock, Data, Duration, Effect, Option, Redacted, Ref } from "effect"
import type { ClusterCredentials } from "./ClusterCredentials.ts"

// The pod's own credentials, as client-go's rest.InClusterConfig reads them,
// without @kubernetes/client-node: loading its KubeConfig loads the whole
// generated API (some 55 MiB of RSS, BENCHMARKS.md "Idle memory") for
// what is two files and two environment variables.

/** Where the kubelet mounts the service account's files. */
export interface ServiceAccountFiles {
  readonly token: string
  readonly ca: string
}

export const SERVICE_ACCOUNT_FILES: ServiceAccountFiles = {
  token: "/var/run/secrets/kubernetes.io/serviceaccount/token",
  ca: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
}

/**
 * How long a token read from the file is used before the file is read
 * again: client-go's period. The kubelet rotates projected tokens at 80 % of
 * their lifetime (an hour by default), so a minute is early enough.
 */
export const TOKEN_REREAD_PERIOD = Duration.minutes(1)

/** The in-cluster configuration is incomplete; `setting` names what to fix. */
export class InClusterConfigError extends Data.TaggedError("InClusterConfigError")<{
  readonly setting: string
  readonly message: string
}> {}

/** The API server's URL from the service's host and port; an IPv6 host is bracketed. */
export const inClusterServer = (host: string, port: string): string =>
  `https://${isIPv6(host) ? `[${host}]` : host}:${port}`

const REASONS: Partial<Record<string, string>> = {
  NotFound: "no such file",
  PermissionDenied: "permission denied"
}

const readProblem = (error: PlatformError): string =>
  error._tag === "SystemError" ? REASONS[error.reason] ?? error.reason : error.description ?? "bad argument"

/** The token file's content without surrounding whitespace (as client-go trims it); empty is an error. */
const readToken = (fs: FileSystem.FileSystem, path: string) =>
  fs.readFileString(path).pipe(
    Effect.mapError((error) => `cannot read the service account token ${path}: ${readProblem(error)}`),
    Effect.map((text) => text.trim()),
    Effect.filterOrFail((token) => token !== "", () => `the service account token ${path} is empty`),
    Effect.map(Redacted.make)
  )

/**
 * Credentials from `KUBERNETES_SERVICE_HOST`/`_PORT` and the service
 * account's token and CA files. The CA and a first token are read now, so
 * a pod without them fails at start-up with the file named; later reads of
 * the token keep the last good one when the file cannot be read (a warning
 * once per period), as client-go does.
 */
export const makeInClusterCredentials = (
  service: { readonly host: string; readonly port: string | undefined },
  files: ServiceAccountFiles = SERVICE_ACCOUNT_FILES
): Effect.Effect<ClusterCredentials, InClusterConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const invalid = (message: string, setting = "in-cluster config") =>
      new InClusterConfigError({ setting, message })
    const port = service.port ?? ""
    if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      return yield* invalid(
        port === ""
          ? "KUBERNETES_SERVICE_HOST is set but KUBERNETES_SERVICE_PORT is not"
          : `KUBERNETES_SERVICE_PORT ${JSON.stringify(port)} is not a port number`,
        "KUBERNETES_SERVICE_PORT"
      )
    }
    const fs = yield* FileSystem.FileSystem
    const ca = yield* fs.readFile(files.ca).pipe(
      Effect.mapError((error) => invalid(`cannot read the service account CA ${files.ca}: ${readProblem(error)}`))
    )
    const first = yield* readToken(fs, files.token).pipe(Effect.mapError((message) => invalid(message)))
    const cached = yield* Ref.make({ token: first, readAt: yield* Clock.currentTimeMillis })

    const token = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const current = yield* Ref.get(cached)
      if (now - current.readAt < Duration.toMillis(TOKEN_REREAD_PERIOD)) return current.token
      const fresh = yield* readToken(fs, files.token).pipe(
        Effect.catchAll((message) =>
          // The last token is likely still valid (it lives an hour); try the file again next period.
          Effect.logWarning("Cannot re-read the service account token; using the last one").pipe(
            Effect.annotateLogs({ error: message }),
            Effect.as(current.token)
          )
        )
      )
      yield* Ref.set(cached, { token: fresh, readAt: now })
      return fresh
    })

    return {
      source: "in-cluster config",
      server: inClusterServer(service.host, port),
      tls: Effect.succeed({ ca: Buffer.from(ca) }),
      headers: Effect.map(token, (t) => ({ authorization: `Bearer ${Redacted.value(t)}` })),
      // As client-go's InClusterConfig has no proxy-url; the proxy variables are not applied (README).
      proxy: Option.none()
    } satisfies ClusterCredentials
  })
