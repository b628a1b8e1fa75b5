import { Either, Redacted } from "effect"
import { maskUserInfo } from "../config/baseUrl.ts"

// A kubeconfig cluster's `proxy-url`, read as client-go reads it: a URL
// whose scheme is http, https or socks5 (no scheme is an error, unlike
// HTTPS_PROXY), used for every request to that cluster's API server,
// loopback included (NO_PROXY does not apply to it). We carry http:// and
// https:// proxies (undici's ProxyAgent, a CONNECT tunnel); socks5 is refused
// at start-up rather than ignored, which would send the traffic direct.

/**
 * The proxy of a cluster's `proxy-url`, or why it cannot be used (a phrase
 * for "invalid setting <where the kubeconfig came from>: ..."). The URL may
 * hold `user:password@` (sent as Proxy-Authorization: Basic): secret, and
 * masked in the message.
 */
export const clusterProxy = (cluster: string, proxyUrl: string): Either.Either<Redacted.Redacted<string>, string> => {
  const problem = (rule: string) =>
    Either.left(`proxy-url ${JSON.stringify(maskUserInfo(proxyUrl))} of cluster ${JSON.stringify(cluster)} ${rule}`)
  const url = URL.canParse(proxyUrl) ? new URL(proxyUrl) : undefined
  if (url === undefined || !/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(proxyUrl)) {
    return problem("is not a URL such as http://proxy.corp.example:3128")
  }
  if (url.protocol === "socks5:") {
    return problem("is a SOCKS5 proxy, which this tracker does not support; use an http:// or https:// proxy")
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return problem(`has the scheme ${url.protocol.slice(0, -1)}; use an http:// or https:// proxy`)
  }
  if (url.hostname === "") return problem("names no host")
  return Either.right(Redacted.make(url.href))
}
