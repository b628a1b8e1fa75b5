import { Option, Redacted } from "effect"
import { BlockList, isIP } from "node:net"
import { getCACertificates } from "node:tls"

/**
 * How the controller's own outgoing connections leave the cluster: GitHub
 * (records, jobs, App tokens) and the OTLP exporter. The Kubernetes API is
 * not one of them: it keeps its kubeconfig's settings.
 *
 * The proxy variables are read as Go's net/http reads them (the original's
 * client): HTTPS_PROXY for https:// URLs and HTTP_PROXY for http:// ones
 * (no fall-back from one to the other), upper case before lower case, and
 * NO_PROXY for the exceptions.
 */
export interface EgressSettings {
  /** Proxy of https:// URLs (HTTPS_PROXY, else https_proxy), normalised; may hold credentials. */
  readonly httpsProxy: Option.Option<Redacted.Redacted<string>>
  /** Proxy of http:// URLs (HTTP_PROXY, else http_proxy). */
  readonly httpProxy: Option.Option<Redacted.Redacted<string>>
  /** NO_PROXY (else no_proxy), as given; "" for none. */
  readonly noProxy: string
  /** PEM certificates from SSL_CERT_FILE and SSL_CERT_DIR, trusted on top of Node's CAs. */
  readonly extraCaCertificates: ReadonlyArray<string>
}

/** No proxy, Node's own CA list (which NODE_EXTRA_CA_CERTS already extends). */
export const DIRECT_EGRESS: EgressSettings = {
  httpsProxy: Option.none(),
  httpProxy: Option.none(),
  noProxy: "",
  extraCaCertificates: []
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { "http:": 80, "https:": 443 }

interface NoProxyEntry {
  /** Lower case; IPv6 in brackets as URL hostnames have them; leading `*.` or `.` removed. */
  readonly host: string
  /** 0: any port. */
  readonly port: number
}

/**
 * NO_PROXY entries, split on commas and spaces: `host` or `host:port`
 * (`[v6]:port`), a leading `.` or `*.` dropped, lower case. These are
 * undici's rules (EnvHttpProxyAgent, which carries the GitHub requests);
 * CIDR ranges and `*` are handled by `bypassesProxy` itself.
 */
const hostEntries = (noProxy: string): ReadonlyArray<NoProxyEntry> =>
  noProxy.split(/[,\s]/).filter((entry) => entry !== "" && entry !== "*" && !entry.includes("/")).map((entry) => {
    const withPort = /^(.+):(\d+)$/.exec(entry)
    const host = withPort?.[1] ?? entry
    return { host: host.replace(/^\*?\./, "").toLowerCase(), port: withPort === null ? 0 : Number(withPort[2]) }
  })

/** A URL hostname without IPv6 brackets, for IP checks. */
const bare = (hostname: string): string => hostname.replace(/^\[(.*)\]$/, "$1")

/** localhost and loopback addresses: never proxied, as in Go. */
const isLoopback = (hostname: string): boolean => {
  const host = bare(hostname).toLowerCase().replace(/\.$/, "")
  if (host === "localhost") return true
  if (isIP(host) === 4) return host.startsWith("127.")
  if (isIP(host) === 6) return host === "::1" || host === "0:0:0:0:0:0:0:1"
  return false
}

/** Whether an IP-literal host lies in one of NO_PROXY's CIDR ranges (as Go; names are not resolved). */
const inNoProxyRange = (hostname: string, noProxy: string): boolean => {
  const host = bare(hostname)
  const family = isIP(host)
  if (family === 0) return false
  const ranges = new BlockList()
  for (const entry of noProxy.split(/[,\s]/)) {
    const cidr = /^\[?([0-9a-fA-F:.]+)\]?\/(\d{1,3})$/.exec(entry)
    const address = cidr?.[1]
    const prefix = Number(cidr?.[2])
    if (address === undefined) continue
    const entryFamily = isIP(address)
    if (entryFamily === 0 || prefix > (entryFamily === 4 ? 32 : 128)) continue
    ranges.addSubnet(address, prefix, entryFamily === 4 ? "ipv4" : "ipv6")
  }
  return ranges.check(host, family === 4 ? "ipv4" : "ipv6")
}

/**
 * Whether a request to `url` goes straight to its host despite a proxy:
 * NO_PROXY is `*` or lists `*` (everything), or names the host or a domain
 * above it (`example.com`, `.example.com` and `*.example.com` all match
 * `example.com` and its subdomains), optionally with the port; an IP host
 * in a listed CIDR range; localhost and loopback addresses always.
 */
export const bypassesProxy = (url: URL, noProxy: string): boolean => {
  const hostname = url.hostname.toLowerCase()
  if (isLoopback(hostname)) return true
  if (noProxy.split(/[,\s]/).includes("*")) return true
  if (inNoProxyRange(hostname, noProxy)) return true
  const port = Number(url.port) || DEFAULT_PORTS[url.protocol] || 0
  return hostEntries(noProxy).some((entry) =>
    (entry.port === 0 || entry.port === port) && (hostname === entry.host || hostname.endsWith(`.${entry.host}`))
  )
}

/** The proxy a request to `url` goes through: HTTPS_PROXY for https://, HTTP_PROXY for http://, none when NO_PROXY says so. */
export const proxyFor = (url: string, egress: EgressSettings | undefined): Option.Option<Redacted.Redacted<string>> => {
  if (egress === undefined || !URL.canParse(url)) return Option.none()
  const parsed = new URL(url)
  const proxy = parsed.protocol === "https:" ? egress.httpsProxy : parsed.protocol === "http:" ? egress.httpProxy : Option.none()
  return Option.isSome(proxy) && !bypassesProxy(parsed, egress.noProxy) ? proxy : Option.none()
}

/**
 * The CA certificates TLS connections to GitHub and the collector trust:
 * undefined (Node's default: its bundled roots plus NODE_EXTRA_CA_CERTS)
 * unless SSL_CERT_FILE or SSL_CERT_DIR added some, then that default plus
 * them. (A `ca` list replaces Node's default, hence the default in it.)
 */
export const trustedCertificates = (egress: EgressSettings | undefined): ReadonlyArray<string> | undefined =>
  egress === undefined || egress.extraCaCertificates.length === 0
    ? undefined
    : [...new Set([...getCACertificates("default"), ...egress.extraCaCertificates])]

/** A proxy URL as it may be logged: scheme, host and port, credentials masked. */
export const describeProxy = (proxy: Redacted.Redacted<string>): string => {
  const url = new URL(Redacted.value(proxy))
  return `${url.protocol}//${url.username === "" ? "" : "***@"}${url.host}`
}
