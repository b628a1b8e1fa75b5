import { Data, type Effect, type Option, type Redacted } from "effect"

/**
 * TLS material for the connections to the API server. Read once, when the
 * connection pool is built (as client-go does with its transport).
 */
export interface TlsMaterial {
  readonly ca?: Buffer
  readonly cert?: Buffer
  readonly key?: Buffer
  readonly servername?: string
  readonly rejectUnauthorized?: boolean
}

/** The credentials could not be produced (an unreadable token file, a failing exec plugin). */
export class CredentialsError extends Data.TaggedError("CredentialsError")<{
  readonly message: string
}> {}

/**
 * What KubeApi needs to reach the API server, whichever way it was
 * configured: the pod's service account (inClusterCredentials.ts) or a
 * kubeconfig file (kubeconfigCredentials.ts, which alone loads
 * @kubernetes/client-node).
 */
export interface ClusterCredentials {
  /** Which setting they came from ("in-cluster config", "-kubeconfig", ...), for the start-up log. */
  readonly source: string
  /** The API server's base URL, without a trailing slash. */
  readonly server: string
  readonly tls: Effect.Effect<TlsMaterial, CredentialsError>
  /** The headers of one request, asked for each request: bearer tokens rotate. */
  readonly headers: Effect.Effect<Readonly<Record<string, string>>, CredentialsError>
  /**
   * The kubeconfig cluster's `proxy-url` (http:// or https://, may hold
   * credentials), through which every request to the server goes; none:
   * direct (the proxy variables are not applied, see README).
   */
  readonly proxy: Option.Option<Redacted.Redacted<string>>
}
