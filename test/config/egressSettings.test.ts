import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { X509Certificate } from "node:crypto"
import { join } from "node:path"
import { pemCertificates } from "../../src/config/certificates.ts"
import { BASE_ENV, load } from "./fixtures.ts"

// HTTPS_PROXY / HTTP_PROXY / NO_PROXY read as Go reads them, and the CA
// certificates of SSL_CERT_FILE / SSL_CERT_DIR read at start.

/** Two self-signed test CAs (P-256, valid until 2126). */
const CA_A = `-----BEGIN CERTIFICATE-----
MIIBpDCCAUugAwIBAgIUB3yVwvTk78ghTY3Oy9M6HC09v9QwCgYIKoZIzj0EAwIw
JzElMCMGA1UEAwwcZGVwbG95bWVudC10cmFja2VyIHRlc3QgQ0EgQTAgFw0yNjEy
MDMxNTQzMjhaGA8yMTI2MTEwOTE1NDMyOFowJzElMCMGA1UEAwwcZGVwbG95bWVu
dC10cmFja2VyIHRlc3QgQ0EgQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABBcR
VMwB9cP3Rr8HKnWLztjGJn2e8GrJNk4X9BP95p3/eYsj+SPSvGYFyW2Db7UNjQR0
UAtIaDPct6rYL6FPhpujUzBRMB0GA1UdDgQWBBTl5o6GNZZ9SKmxPjtLSf2qTaYO
ljAfBgNVHSMEGDAWgBTl5o6GNZZ9SKmxPjtLSf2qTaYOljAPBgNVHRMBAf8EBTAD
AQH/MAoGCCqGSM49BAMCA0cAMEQCIHgjmUMF/9wSJ0NBY+VQRlzReD2MKLjuFXV6
6hgOhBRbAiAj0Y3OOrGpOVBkkrv8j+Kl4OzsfRWObFfZnmNQkfLQ6g==
-----END CERTIFICATE-----
`
const CA_B = `-----BEGIN CERTIFICATE-----
MIIBpDCCAUugAwIBAgIUWCvtXRHhYa/TbvPoBRcXWwizEQMwCgYIKoZIzj0EAwIw
JzElMCMGA1UEAwwcZGVwbG95bWVudC10cmFja2VyIHRlc3QgQ0EgQjAgFw0yNjEy
MDMxNTQzMjhaGA8yMTI2MTEwOTE1NDMyOFowJzElMCMGA1UEAwwcZGVwbG95bWVu
dC10cmFja2VyIHRlc3QgQ0EgQjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFCh
biiMT2erEBgkk2VWt6+l5xOvbQRyZMaVSis6nKXopzsETdLHCl3h6DO7WTeAO4QE
oka8eGLwBRmcN51T08KjUzBRMB0GA1UdDgQWBBTKdyuMva7e7ItvfrSttp9HpoYX
dzAfBgNVHSMEGDAWgBTKdyuMva7e7ItvfrSttp9HpoYXdzAPBgNVHRMBAf8EBTAD
AQH/MAoGCCqGSM49BAMCA0cAMEQCIFDsAnnyQx+W7PUaJ90VJxAtedfFt0GYgaoB
Bv6cxRCGAiAuU6GTlUAir+1f5u4trq8o0uSmhsracejrBvFnDeKU7A==
-----END CERTIFICATE-----
`

const normalised = (pem: string) => new X509Certificate(pem).toString()

/** A temporary directory with these files, removed when the scope closes. */
const files = (contents: Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "dt-certs-" })
    for (const [name, text] of Object.entries(contents)) {
      yield* fs.makeDirectory(join(dir, name, ".."), { recursive: true })
      yield* fs.writeFileString(join(dir, name), text)
    }
    return dir
  }).pipe(Effect.provide(NodeFileSystem.layer))

const proxyOf = (value: Option.Option<Redacted.Redacted<string>>) => Option.getOrUndefined(Option.map(value, Redacted.value))

describe("proxy variables", () => {
  it.effect("none set: direct", () =>
    Effect.gen(function*() {
      const { config } = yield* load([], BASE_ENV)
      expect(config.egress).toStrictEqual({ httpsProxy: Option.none(), httpProxy: Option.none(), noProxy: "", extraCaCertificates: [] })
      expect(Option.getOrUndefined(config.tracing)).toBeUndefined()
    }))

  it.effect("upper case wins over lower case, without complaint (Go's reading)", () =>
    Effect.gen(function*() {
      const { config, warnings } = yield* load([], {
        ...BASE_ENV,
        HTTPS_PROXY: "http://upper:3128",
        https_proxy: "http://lower:3128",
        NO_PROXY: ".corp.example",
        no_proxy: "other.example"
      })
      expect(warnings).toStrictEqual([])
      expect(proxyOf(config.egress!.httpsProxy)).toBe("http://upper:3128/")
      expect(config.egress?.noProxy).toBe(".corp.example")
    }))

  it.effect("lower case alone is read", () =>
    Effect.gen(function*() {
      const { config } = yield* load([], { ...BASE_ENV, https_proxy: "http://lower:3128", http_proxy: "lower-plain:8080", no_proxy: "x" })
      expect(proxyOf(config.egress!.httpsProxy)).toBe("http://lower:3128/")
      // Without a scheme http:// is assumed, as Go does.
      expect(proxyOf(config.egress!.httpProxy)).toBe("http://lower-plain:8080/")
      expect(config.egress?.noProxy).toBe("x")
    }))

  it.effect("an https:// proxy with credentials is kept, redacted", () =>
    Effect.gen(function*() {
      const { config } = yield* load([], { ...BASE_ENV, HTTPS_PROXY: "https://dt:s3cret@proxy.corp.example:8443" })
      expect(proxyOf(config.egress!.httpsProxy)).toBe("https://dt:s3cret@proxy.corp.example:8443/")
      expect(JSON.stringify(config)).not.toContain("s3cret")
    }))

  it.effect("the collector gets the same settings", () =>
    Effect.gen(function*() {
      const { config } = yield* load([], { ...BASE_ENV, HTTPS_PROXY: "http://p:1", OTEL_EXPORTER_OTLP_ENDPOINT: "https://otel.example.com" })
      expect(Option.getOrThrow(config.tracing).egress).toBe(config.egress)
    }))

  it.effect.each([
    ["HTTPS_PROXY", "socks5://dt:s3cret@proxy:1080", "must be an http:// or https:// proxy (scheme socks5 is not supported)"],
    ["https_proxy", "http://dt:s3cret@exa mple:1", "must be a proxy URL"],
    ["HTTP_PROXY", "ftp://proxy:21", "scheme ftp is not supported"]
  ] as const)("%s=%s stops the start, naming it, without the password", ([name, value, problem]) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(load([], { ...BASE_ENV, [name]: value }))
      if (error._tag !== "ConfigError") return expect.fail(error._tag)
      expect(error.setting).toBe(name)
      expect(error.message).toContain(problem)
      expect(error.message).not.toContain("s3cret")
    }))
})

describe("SSL_CERT_FILE and SSL_CERT_DIR", () => {
  it.scoped("SSL_CERT_FILE: every certificate of the bundle (other PEM blocks ignored)", () =>
    Effect.gen(function*() {
      const dir = yield* files({
        "bundle.pem": ["# corporate roots", CA_A, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", CA_B].join("\n")
      })
      const { config } = yield* load([], { ...BASE_ENV, SSL_CERT_FILE: join(dir, "bundle.pem") })
      expect(config.egress?.extraCaCertificates).toStrictEqual([normalised(CA_A), normalised(CA_B)])
    }))

  it.scoped("SSL_CERT_DIR: the PEM files of every directory (':'-separated), duplicates once, other files skipped", () =>
    Effect.gen(function*() {
      const dir = yield* files({
        "one/a.pem": CA_A,
        "one/README": "not a certificate",
        "one/nested/b.pem": CA_B,
        "two/a-again.crt": CA_A,
        "two/b.crt": CA_B
      })
      const { config } = yield* load([], { ...BASE_ENV, SSL_CERT_DIR: `${join(dir, "one")}:${join(dir, "two")}` })
      expect([...(config.egress?.extraCaCertificates ?? [])].sort()).toStrictEqual([normalised(CA_A), normalised(CA_B)].sort())
    }))

  it.scoped("both together add up", () =>
    Effect.gen(function*() {
      const dir = yield* files({ "a.pem": CA_A, "certs/b.pem": CA_B })
      const { config } = yield* load([], { ...BASE_ENV, SSL_CERT_FILE: join(dir, "a.pem"), SSL_CERT_DIR: join(dir, "certs") })
      expect(config.egress?.extraCaCertificates).toHaveLength(2)
    }))

  const refused: ReadonlyArray<readonly [string, (dir: string) => Record<string, string>, string, string]> = [
    ["a missing SSL_CERT_FILE", (dir) => ({ SSL_CERT_FILE: join(dir, "missing.pem") }), "SSL_CERT_FILE", "no such file"],
    ["an SSL_CERT_FILE without certificates", (dir) => ({ SSL_CERT_FILE: join(dir, "empty.pem") }), "SSL_CERT_FILE", "holds no PEM certificate"],
    ["an SSL_CERT_FILE that is a directory", (dir) => ({ SSL_CERT_FILE: dir }), "SSL_CERT_FILE", "is not a regular file"],
    ["a missing SSL_CERT_DIR", (dir) => ({ SSL_CERT_DIR: join(dir, "missing") }), "SSL_CERT_DIR", "cannot read the directory"],
    ["an SSL_CERT_DIR without certificates", (dir) => ({ SSL_CERT_DIR: join(dir, "nothing") }), "SSL_CERT_DIR", "no PEM certificate in"]
  ]
  for (const [what, env, setting, problem] of refused) {
    it.scoped(`${what} stops the start, naming it`, () =>
      Effect.gen(function*() {
        const dir = yield* files({ "empty.pem": "nothing here", "nothing/readme.txt": "no certificates" })
        const error = yield* Effect.flip(load([], { ...BASE_ENV, ...env(dir) }))
        if (error._tag !== "ConfigError") return expect.fail(error._tag)
        expect(error.setting).toBe(setting)
        expect(error.message).toContain(problem)
      }))
  }

  it("a malformed block is skipped, as Go's AppendCertsFromPEM does", () => {
    expect(pemCertificates(`-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n${CA_A}`)).toStrictEqual([normalised(CA_A)])
  })
})
