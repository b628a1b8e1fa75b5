import { Either, Encoding, ParseResult, Redacted, Schema } from "effect"
import type { LogLevelName } from "./Config.ts"
import { isLocalHost, maskUserInfo, normaliseBaseUrl } from "./baseUrl.ts"
import { shown } from "./errors.ts"
import { templateProblem } from "../record/deploymentName.ts"
import { codePointLength, LIMITS } from "../record/validateRecord.ts"
import { labelSelectorProblem } from "./labelSelector.ts"

/**
 * One schema per kind of setting, each decoding the text of a flag or an
 * environment variable. Failures carry a message that states the rule and,
 * unless the setting is secret, the offending text.
 */

/** Any failure inside `schema` is reported as `rule (got "text")`. */
const withRule = <A, I, R>(schema: Schema.Schema<A, I, R>, rule: string): Schema.Schema<A, I, R> =>
  schema.annotations({ message: (issue) => ({ message: `${rule} ${shown(issue.actual)}`, override: true }) })

/** Any failure inside `schema` is reported as `rule`, without the value. */
const withSecretRule = <A, I, R>(schema: Schema.Schema<A, I, R>, rule: string): Schema.Schema<A, I, R> =>
  schema.annotations({ message: () => ({ message: rule, override: true }) })

const IntegerText = Schema.Trim.pipe(
  Schema.pattern(/^[+-]?[0-9]+$/),
  Schema.compose(Schema.NumberFromString),
  Schema.int()
)

export const IntegerBetween = (min: number, max: number): Schema.Schema<number, string> =>
  withRule(IntegerText.pipe(Schema.between(min, max)), `must be an integer from ${min} to ${max}`)

export const IntegerAtLeast = (min: number): Schema.Schema<number, string> =>
  withRule(IntegerText.pipe(Schema.greaterThanOrEqualTo(min)), `must be an integer of at least ${min}`)

/** Requests per second; 0 turns the limit off. */
export const RequestRate: Schema.Schema<number, string> = withRule(
  Schema.Trim.pipe(Schema.pattern(/^[0-9]+(\.[0-9]+)?$/), Schema.compose(Schema.NumberFromString), Schema.finite()),
  "must be a number of requests per second greater than 0, or 0 for no limit"
)

const TRUE_WORDS = ["true", "1", "yes"] as const
const FALSE_WORDS = ["false", "0", "no"] as const

export const BooleanText: Schema.Schema<boolean, string> = withRule(
  Schema.transform(
    Schema.Trim.pipe(Schema.compose(Schema.Lowercase), Schema.compose(Schema.Literal(...TRUE_WORDS, ...FALSE_WORDS))),
    Schema.Boolean,
    {
      strict: true,
      decode: (word) => (TRUE_WORDS as ReadonlyArray<string>).includes(word),
      encode: (flag) => (flag ? "true" : "false")
    }
  ),
  "must be true or false (1/0 and yes/no are accepted too, in any case)"
)

export const NonEmptyText: Schema.Schema<string, string> = withRule(
  Schema.String.pipe(Schema.minLength(1)),
  "must not be empty"
)

/**
 * A value that goes into every record as `field`: within the lengths
 * GitHub's record and cluster-job schemas allow (code points, as JSON Schema
 * counts them), so it is refused at start rather than in every record.
 */
export const RecordFieldText = (field: keyof typeof LIMITS, required: boolean): Schema.Schema<string, string> => {
  const { max, min: schemaMin } = LIMITS[field] as { readonly min: number; readonly max: number }
  const min = required ? Math.max(1, schemaMin) : schemaMin
  const rule = min === 0
    ? `must be at most ${max} characters (GitHub's limit for ${field})`
    : `must be 1 to ${max} characters (GitHub's limit for ${field})`
  return withRule(
    Schema.String.pipe(Schema.filter((text) => text.length >= min && codePointLength(text) <= max)),
    rule
  )
}

const ORGANIZATION = /^[a-zA-Z0-9_-]+$/

export const OrganizationName: Schema.Schema<string, string> = withRule(
  Schema.String.pipe(Schema.pattern(ORGANIZATION)),
  `must match ${ORGANIZATION.source}`
)

/** Namespace names are RFC 1123 labels. */
const NamespaceLabel = Schema.String.pipe(Schema.maxLength(63), Schema.pattern(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/))
const LABEL_RULE = "an RFC 1123 label: at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit"

export const NamespaceName: Schema.Schema<string, string> = withRule(NamespaceLabel, `must be a namespace name, ${LABEL_RULE}`)

/** A Kubernetes label selector (checked for syntax; the API server applies it). */
export const LabelSelectorText: Schema.Schema<string, string> = Schema.Trim.pipe(
  Schema.filter((text) => {
    const problem = labelSelectorProblem(text)
    return problem === undefined ? true : `must be a label selector such as tracking=on or env in (prod, staging): it ${problem}`
  })
)

/** Comma-separated; items are trimmed, empty items and repeats dropped. */
export const NamespaceList: Schema.Schema<ReadonlyArray<string>, string> = Schema.transform(
  Schema.String,
  Schema.Array(Schema.String),
  {
    strict: true,
    decode: (text) => [...new Set(text.split(",").map((item) => item.trim()).filter((item) => item !== ""))],
    encode: (items) => items.join(",")
  }
).pipe(Schema.compose(Schema.Array(withRule(NamespaceLabel, `each namespace must be ${LABEL_RULE}`))))

export const DeploymentNameTemplate: Schema.Schema<string, string> = Schema.String.pipe(
  Schema.filter((template) => {
    const problem = templateProblem(template)
    return problem === undefined ? undefined : `${problem} ${shown(template)}`
  })
)

export const ApiBaseUrl: Schema.Schema<string, string> = Schema.transformOrFail(Schema.String, Schema.String, {
  strict: true,
  decode: (text, _, ast) =>
    Either.match(normaliseBaseUrl(text), {
      onLeft: (problem) => ParseResult.fail(new ParseResult.Type(ast, text, `${problem} ${shown(maskUserInfo(text))}`)),
      onRight: ParseResult.succeed
    }),
  encode: ParseResult.succeed
})

/** What LOG_LEVEL asks for; an unknown level is not an error (as in the original) but a warning. */
export interface LogLevelReading {
  readonly level: LogLevelName
  readonly warning?: string
}

const LEVELS: Readonly<Record<string, LogLevelName>> = {
  DEBUG: "DEBUG",
  INFO: "INFO",
  WARN: "WARN",
  WARNING: "WARN",
  ERROR: "ERROR"
}

export const readLogLevel = (text: string): LogLevelReading => {
  const level = LEVELS[text.trim().toUpperCase()]
  return level !== undefined
    ? { level }
    : { level: "INFO", warning: `LOG_LEVEL ${JSON.stringify(text)} is not supported (DEBUG, INFO, WARN, ERROR); using INFO` }
}

export const LogLevelText: Schema.Schema<LogLevelReading, string> = Schema.transform(
  Schema.String,
  Schema.Struct({
    level: Schema.Literal("DEBUG", "INFO", "WARN", "ERROR"),
    warning: Schema.optionalWith(Schema.String, { exact: true })
  }),
  { strict: true, decode: readLogLevel, encode: (reading) => reading.level }
)

/** A PAT goes into an HTTP header: one token of visible ASCII. Surrounding whitespace (a newline from a secret file) is dropped. */
export const ApiToken: Schema.Schema<string, string> = withSecretRule(
  Schema.Trim.pipe(Schema.pattern(/^[\x21-\x7e]+$/)),
  "must be a single token of visible ASCII characters (no spaces or control characters)"
)

export const AppId: Schema.Schema<string, string> = withRule(
  Schema.Trim.pipe(Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)),
  "must be the numeric App ID or the App's client ID"
)

export const InstallationId: Schema.Schema<string, string> = withRule(
  Schema.Trim.pipe(Schema.pattern(/^[1-9][0-9]*$/)),
  "must be the numeric installation ID"
)

/** Standard base64 with padding (Go's StdEncoding); line breaks and spaces are ignored. Decodes to the PEM text. */
export const Base64Text: Schema.Schema<string, string> = Schema.transformOrFail(Schema.String, Schema.String, {
  strict: true,
  decode: (text, _, ast) => {
    const compact = text.replace(/\s+/g, "")
    const decoded = compact !== "" && /^[A-Za-z0-9+/]*={0,2}$/.test(compact)
      ? Either.mapLeft(Encoding.decodeBase64String(compact), () => undefined)
      : Either.left(undefined)
    const hint = text.includes("-----BEGIN") ? " (it looks like PEM text: encode it with base64 first)" : ""
    return Either.match(decoded, {
      onRight: ParseResult.succeed,
      // The value is secret: neither the message nor the issue holds it.
      onLeft: () => ParseResult.fail(new ParseResult.Type(ast, "<redacted>", `must be valid base64${hint}`))
    })
  },
  encode: (pem) => ParseResult.succeed(Encoding.encodeBase64(pem))
})

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** A Go duration of one or more `<number><unit>` terms (`15s`, `1m30s`, `500ms`), as milliseconds; must be positive. */
export const GoDurationText: Schema.Schema<number, string> = withRule(
  Schema.Trim.pipe(
    Schema.pattern(/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/),
    Schema.transform(Schema.Number, {
      strict: true,
      decode: (text) => {
        let total = 0
        for (const term of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) {
          total += Number(term[1]) * DURATION_UNITS[term[2]!]!
        }
        return total
      },
      encode: (millis) => `${millis}ms`
    }),
    Schema.positive()
  ),
  "must be a positive duration such as 15s, 500ms or 1m30s"
)

/** A Go duration, or a bare `0` (Go's ParseDuration takes it) meaning "off". */
export const GoDurationOrZero: Schema.Schema<number, string> = withRule(
  Schema.Union(
    Schema.transform(Schema.Trim.pipe(Schema.pattern(/^0$/)), Schema.Literal(0), {
      strict: true,
      decode: () => 0 as const,
      encode: () => "0"
    }),
    GoDurationText
  ),
  "must be a duration such as 6h, 30m or 1h30m, or 0 for off"
)

/** Where traces go: an http(s) URL; plain http only to this machine or a Service in the cluster. */
export const CollectorUrl: Schema.Schema<string, string> = withRule(
  Schema.Trim.pipe(
    Schema.filter((text) => {
      if (!URL.canParse(text)) return false
      const url = new URL(text)
      if (url.username !== "" || url.password !== "") return false
      return url.protocol === "https:" || (url.protocol === "http:" && isLocalHost(url.hostname))
    })
  ),
  "must be an https:// URL without credentials (http:// only for localhost, 127.0.0.0/8, ::1, *.svc and *.svc.cluster.local)"
)

/** `key=value` pairs separated by commas (the OTel specification's format); values may be percent-encoded. */
export const HeaderList: Schema.Schema<Readonly<Record<string, string>>, string> = withSecretRule(
  Schema.transformOrFail(Schema.String, Schema.Record({ key: Schema.String, value: Schema.String }), {
    strict: true,
    decode: (text, _, ast) => {
      const headers: Record<string, string> = {}
      for (const item of text.split(",")) {
        if (item.trim() === "") continue
        const equals = item.indexOf("=")
        const key = equals <= 0 ? "" : item.slice(0, equals).trim()
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) return ParseResult.fail(new ParseResult.Type(ast, "<redacted>"))
        let value: string
        try {
          value = decodeURIComponent(item.slice(equals + 1).trim())
        } catch {
          return ParseResult.fail(new ParseResult.Type(ast, "<redacted>"))
        }
        headers[key.toLowerCase()] = value
      }
      return ParseResult.succeed(headers)
    },
    encode: (headers) => ParseResult.succeed(Object.entries(headers).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join(","))
  }),
  "must be key=value pairs separated by commas"
)

/** A ConfigMap name (an RFC 1123 subdomain), or "" for "off". */
export const OptionalConfigMapName: Schema.Schema<string, string> = withRule(
  Schema.String.pipe(
    Schema.maxLength(253),
    Schema.pattern(/^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/)
  ),
  "must be a ConfigMap name (lowercase letters, digits, '-' and '.', at most 253) or \"\" for off"
)

/**
 * A proxy URL (HTTPS_PROXY, HTTP_PROXY): `http://` or `https://`, with
 * optional `user:password@`; without a scheme `http://` is assumed (as Go
 * does). Secret, since it may carry credentials: errors show it masked.
 */
export const ProxyUrl: Schema.Schema<Redacted.Redacted<string>, string> = Schema.transformOrFail(
  Schema.String,
  Schema.RedactedFromSelf(Schema.String),
  {
    strict: true,
    decode: (text, _, ast) => {
      const trimmed = text.trim()
      const candidate = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(trimmed) ? trimmed : `http://${trimmed}`
      const problem = (rule: string) => ParseResult.fail(new ParseResult.Type(ast, "<redacted>", `${rule} ${shown(maskUserInfo(trimmed))}`))
      if (!URL.canParse(candidate)) return problem("must be a proxy URL such as http://proxy.example.com:3128")
      const url = new URL(candidate)
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        return problem(`must be an http:// or https:// proxy (scheme ${url.protocol.slice(0, -1)} is not supported)`)
      }
      if (url.hostname === "") return problem("must name the proxy's host")
      return ParseResult.succeed(Redacted.make(url.href))
    },
    encode: (proxy) => ParseResult.succeed(Redacted.value(proxy))
  }
)

/** SSL_CERT_DIR: directories separated by ':' (as OpenSSL and Go read it); empty items dropped. */
export const DirectoryList: Schema.Schema<ReadonlyArray<string>, string> = Schema.transform(
  Schema.String,
  Schema.Array(Schema.String),
  {
    strict: true,
    decode: (text) => text.split(":").map((item) => item.trim()).filter((item) => item !== ""),
    encode: (items) => items.join(":")
  }
)
