import { EnvHttpProxyAgent } from "@effect/platform-node/Undici"
import { describe, expect, it } from "@effect/vitest"
import { Option, Redacted } from "effect"
import { getCACertificates } from "node:tls"
import {
  bypassesProxy,
  describeProxy,
  DIRECT_EGRESS,
  type EgressSettings,
  proxyFor,
  trustedCertificates
} from "../../src/config/egress.ts"
import { collectorAgentOptions } from "../../src/observability/Tracing.ts"

const HTTPS_PROXY = "http://user:pw@proxy.corp.example:3128/"
const HTTP_PROXY = "http://plain-proxy.corp.example:8080/"

const egress = (overrides: Partial<EgressSettings> = {}): EgressSettings => ({
  ...DIRECT_EGRESS,
  httpsProxy: Option.some(Redacted.make(HTTPS_PROXY)),
  httpProxy: Option.some(Redacted.make(HTTP_PROXY)),
  ...overrides
})

const proxied = (url: string, settings: EgressSettings | undefined) =>
  Option.map(proxyFor(url, settings), Redacted.value).pipe(Option.getOrUndefined)

// NO_PROXY rules shared by undici's EnvHttpProxyAgent (which carries the
// GitHub requests) and bypassesProxy (which also decides the collector's
// route): [NO_PROXY, URL, bypasses the proxy].
const SHARED_RULES: ReadonlyArray<readonly [string, string, boolean]> = [
  ["", "https://api.github.com", false],
  ["api.github.com", "https://api.github.com", true],
  ["API.GitHub.com", "https://api.github.com/orgs", true],
  ["github.com", "https://api.github.com", true],
  [".github.com", "https://api.github.com", true],
  ["*.github.com", "https://api.github.com", true],
  // A suffix matches at a dot only.
  ["hub.com", "https://api.github.com", false],
  ["ghe.corp.example", "https://ghe.corp.example/api/v3", true],
  ["ghe.corp.example:443", "https://ghe.corp.example/api/v3", true],
  ["ghe.corp.example:8443", "https://ghe.corp.example/api/v3", false],
  ["ghe.corp.example:8443", "https://ghe.corp.example:8443/api/v3", true],
  ["other.example, ghe.corp.example", "https://ghe.corp.example", true],
  ["other.example ghe.corp.example", "https://ghe.corp.example", true],
  ["*", "https://api.github.com", true],
  ["10.1.2.3", "https://10.1.2.3:8443", true],
  ["10.1.2.3", "https://10.1.2.4:8443", false],
  ["[fd00::5]", "https://[fd00::5]/", true],
  [".svc,.cluster.local", "http://otel-collector.observability.svc:4318/v1/traces", true],
  [".svc,.cluster.local", "https://api.github.com", false]
]

// Go's rules that undici leaves out and bypassesProxy adds, so that both
// connections follow them: loopback, `*` within a list, CIDR ranges.
const GO_RULES: ReadonlyArray<readonly [string, string, boolean]> = [
  ["", "http://localhost:8080", true],
  ["", "http://127.0.0.1:8080", true],
  ["", "http://127.5.6.7:8080", true],
  ["", "http://[::1]:8080", true],
  ["foo.example,*", "https://api.github.com", true],
  ["10.0.0.0/8", "https://10.96.0.12", true],
  ["10.0.0.0/8", "https://11.0.0.1", false],
  ["10.0.0.0/8", "https://ten.example", false],
  ["fd00::/64", "https://[fd00::2]:443", true],
  ["fd00::/64", "https://[fd01::2]:443", false]
]

/**
 * What undici's EnvHttpProxyAgent itself does with NO_PROXY for a URL: a
 * direct connection goes through `connect` (refused at once, marked
 * DIRECT); a proxied one to the proxy, where nothing listens.
 */
const undiciBypasses = async (noProxy: string, url: string): Promise<boolean> => {
  const agent = new EnvHttpProxyAgent({
    httpProxy: "http://127.0.0.1:9",
    httpsProxy: "http://127.0.0.1:9",
    noProxy,
    connect: (_options, callback) => callback(new Error("DIRECT"), null)
  })
  try {
    const outcome = await agent.request({ origin: new URL(url).origin, path: "/", method: "GET" }).then(
      () => "answered",
      (error: unknown) => (error instanceof Error ? error.message : String(error))
    )
    return outcome === "DIRECT"
  } finally {
    await agent.destroy()
  }
}

describe("NO_PROXY", () => {
  it.each(SHARED_RULES)("NO_PROXY=%j, %s: bypasses the proxy: %s", (noProxy, url, bypasses) => {
    expect(bypassesProxy(new URL(url), noProxy)).toBe(bypasses)
  })

  it.each(GO_RULES)("Go's rule: NO_PROXY=%j, %s: bypasses the proxy: %s", (noProxy, url, bypasses) => {
    expect(bypassesProxy(new URL(url), noProxy)).toBe(bypasses)
  })

  // The two connections must not disagree: the GitHub dispatcher applies
  // NO_PROXY again itself.
  it.each(SHARED_RULES)("undici's EnvHttpProxyAgent agrees: NO_PROXY=%j, %s: %s", async (noProxy, url, bypasses) => {
    expect(await undiciBypasses(noProxy, url)).toBe(bypasses)
  })
})

describe("proxyFor", () => {
  it("https:// goes through HTTPS_PROXY, http:// through HTTP_PROXY (as Go: no fall-back between them)", () => {
    expect(proxied("https://api.github.com", egress())).toBe(HTTPS_PROXY)
    expect(proxied("http://github-auth.tools.svc:8080", egress())).toBe(HTTP_PROXY)
    expect(proxied("https://api.github.com", egress({ httpsProxy: Option.none() }))).toBeUndefined()
    expect(proxied("http://github-auth.tools.svc:8080", egress({ httpProxy: Option.none() }))).toBeUndefined()
  })

  it("NO_PROXY and loopback hosts go direct; no settings at all is direct", () => {
    expect(proxied("https://ghe.corp.example/api/v3", egress({ noProxy: ".corp.example" }))).toBeUndefined()
    expect(proxied("http://localhost:4318/v1/traces", egress())).toBeUndefined()
    expect(proxied("https://api.github.com", undefined)).toBeUndefined()
    expect(proxied("https://api.github.com", DIRECT_EGRESS)).toBeUndefined()
  })

  it("a proxy is logged without its credentials", () => {
    expect(describeProxy(Redacted.make(HTTPS_PROXY))).toBe("http://***@proxy.corp.example:3128")
    expect(describeProxy(Redacted.make(HTTP_PROXY))).toBe("http://plain-proxy.corp.example:8080")
  })
})

describe("CA certificates", () => {
  const extra = "-----BEGIN CERTIFICATE-----\nMIIB...test\n-----END CERTIFICATE-----\n"

  it("without SSL_CERT_FILE/DIR: Node's default list (which NODE_EXTRA_CA_CERTS extends), untouched", () => {
    expect(trustedCertificates(undefined)).toBeUndefined()
    expect(trustedCertificates(DIRECT_EGRESS)).toBeUndefined()
  })

  it("with them: Node's default list plus them, so public roots stay trusted", () => {
    const list = trustedCertificates({ ...DIRECT_EGRESS, extraCaCertificates: [extra] })
    expect(list).toEqual(expect.arrayContaining([...getCACertificates("default"), extra]))
    expect(list).toHaveLength(new Set([...getCACertificates("default"), extra]).size)
  })
})

describe("the OTLP collector's Node agent", () => {
  it("gets the proxy chosen by the same rules, and no NO_PROXY of Node's own", () => {
    expect(collectorAgentOptions("https://otel.example.com/v1/traces", egress())).toEqual({
      keepAlive: true,
      proxyEnv: { HTTPS_PROXY }
    })
    expect(collectorAgentOptions("http://otel-collector.observability.svc:4318/v1/traces", egress())).toEqual({
      keepAlive: true,
      proxyEnv: { HTTP_PROXY }
    })
    expect(collectorAgentOptions("http://otel-collector.observability.svc:4318/v1/traces", egress({ noProxy: ".svc" }))).toEqual({
      keepAlive: true
    })
    expect(collectorAgentOptions("https://otel.example.com/v1/traces", undefined)).toEqual({ keepAlive: true })
  })

  it("trusts the extra CAs on https://", () => {
    const extra = "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"
    const options = collectorAgentOptions("https://otel.example.com/v1/traces", { ...DIRECT_EGRESS, extraCaCertificates: [extra] })
    expect(options).toMatchObject({ keepAlive: true, ca: expect.arrayContaining([extra]) })
    expect(options).not.toHaveProperty("proxyEnv")
  })
})
