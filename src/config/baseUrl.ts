import { Either } from "effect"

/**
 * `BASE_URL`: a host (`api.github.com`) or a URL (`https://ghe.example.com/api/v3`).
 * Normalised to `scheme://host[:port][/path]` without a trailing slash, so
 * API paths can be appended as `${baseUrl}/orgs/...`.
 */

const HAS_SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//

/** Hosts that plain http:// may reach: this machine, or a Service inside the cluster. */
export const isLocalHost = (hostname: string): boolean => {
  const host = hostname.toLowerCase().replace(/\.$/, "")
  return host === "localhost" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) ||
    host === "[::1]" ||
    /^[^.]+(\.[^.]+)*\.svc(\.cluster\.local)?$/.test(host)
}

/** The normalised URL, or why the text is not acceptable. */
export const normaliseBaseUrl = (text: string): Either.Either<string, string> => {
  const trimmed = text.trim()
  // Without `://`, "localhost:8080" would parse as the scheme "localhost:".
  const candidate = HAS_SCHEME.test(trimmed) ? trimmed : `https://${trimmed}`
  if (!URL.canParse(candidate)) return Either.left("is not a host name or URL")
  const url = new URL(candidate)
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return Either.left(`must use https:// (scheme ${url.protocol.slice(0, -1)} is not supported)`)
  }
  if (url.hostname === "") return Either.left("has no host")
  if (url.username !== "" || url.password !== "") {
    return Either.left("must not contain credentials (set API_TOKEN or the GitHub App settings instead)")
  }
  if (url.search !== "" || url.hash !== "") return Either.left("must not have a query or fragment")
  if (url.protocol === "http:" && !isLocalHost(url.hostname)) {
    return Either.left(
      "plain http:// is only allowed for localhost, 127.0.0.0/8, ::1, *.svc and *.svc.cluster.local; use https://"
    )
  }
  return Either.right(`${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`)
}

/** The text as it may be shown in an error: any `user:password@` is masked. */
export const maskUserInfo = (text: string): string =>
  text.replace(/^(\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?\/\/)?[^/?#@]*@/, "$1***@")
