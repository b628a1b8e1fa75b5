// Loads GitHub's published OpenAPI description once and turns the few
// operations the simulator serves into validators. The description is 70 MB,
// so only the operations we need are kept after parsing.
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv"
import ajvFormats from "ajv-formats"

export type RouteName = "create-record" | "create-job" | "get-job" | "create-token"

export const ROUTES: ReadonlyArray<{
  readonly name: RouteName
  readonly method: "GET" | "POST"
  readonly path: string
}> = [
  { name: "create-record", method: "POST", path: "/orgs/{org}/artifacts/metadata/deployment-record" },
  { name: "create-job", method: "POST", path: "/orgs/{org}/artifacts/metadata/deployment-record/cluster/{cluster}/jobs" },
  { name: "get-job", method: "GET", path: "/orgs/{org}/artifacts/metadata/deployment-record/cluster/{cluster}/jobs/{job_id}" },
  { name: "create-token", method: "POST", path: "/app/installations/{installation_id}/access_tokens" }
]

/** One problem found in a request, shaped after GitHub's Validation Error items. */
export interface Problem {
  readonly location: "path" | "body"
  readonly field: string
  readonly code: "missing_field" | "invalid" | "unknown_property"
  readonly message: string
  readonly value?: unknown
}

type JsonSchema = { readonly [key: string]: unknown }

export interface Operation {
  readonly name: RouteName
  readonly operationId: string
  readonly method: "GET" | "POST"
  readonly path: string
  readonly documentationUrl: string
  readonly hasBody: boolean
  validatePath(params: Readonly<Record<string, string>>): Problem[]
  validateBody(body: unknown): Problem[]
  /** Properties the schema does not define (GitHub ignores them silently). */
  unknownProperties(body: unknown): Problem[]
  /** Checks one of our own responses against the documented schema, if any. */
  validateResponse(status: number, body: unknown): Problem[]
}

const GITHUB_LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/

export function specPath(): string {
  const require = createRequire(import.meta.url)
  const pkg = require.resolve("@octokit/openapi/package.json")
  return join(dirname(pkg), "generated", "api.github.com.deref.json")
}

let cached: ReadonlyMap<RouteName, Operation> | undefined

/** Parses the description (once per process) and compiles the served operations. */
export function loadOperations(): ReadonlyMap<RouteName, Operation> {
  if (cached !== undefined) return cached
  const spec = JSON.parse(readFileSync(specPath(), "utf8")) as {
    paths: Record<string, Record<string, JsonSchema>>
  }
  const ajv = new Ajv({ strict: false, allErrors: true })
  ajvFormats.default(ajv)
  const operations = new Map<RouteName, Operation>()
  for (const route of ROUTES) {
    const raw = spec.paths[route.path]?.[route.method.toLowerCase()]
    if (raw === undefined) throw new Error(`OpenAPI description has no ${route.method} ${route.path}`)
    operations.set(route.name, compileOperation(ajv, route, raw))
  }
  cached = operations
  return operations
}

function compileOperation(
  ajv: Ajv,
  route: { readonly name: RouteName; readonly method: "GET" | "POST"; readonly path: string },
  raw: JsonSchema
): Operation {
  const parameters = (raw["parameters"] ?? []) as ReadonlyArray<{ name: string; in: string; schema: JsonSchema }>
  const pathParams = parameters
    .filter((p) => p.in === "path")
    .map((p) => ({ name: p.name, schema: p.schema, validate: ajv.compile(p.schema) }))
  const bodySchema = (raw["requestBody"] as { content?: Record<string, { schema?: JsonSchema }> } | undefined)
    ?.content?.["application/json"]?.schema
  const validateBodySchema = bodySchema === undefined ? undefined : ajv.compile(bodySchema)
  const responses = (raw["responses"] ?? {}) as Record<string, { content?: Record<string, { schema?: JsonSchema }> }>
  const responseValidators = new Map<number, ValidateFunction | undefined>()
  const docs = (raw["externalDocs"] as { url?: string } | undefined)?.url ?? "https://docs.github.com/rest"

  return {
    name: route.name,
    operationId: String(raw["operationId"]),
    method: route.method,
    path: route.path,
    documentationUrl: docs,
    hasBody: bodySchema !== undefined,
    validatePath(params) {
      const problems: Problem[] = []
      for (const p of pathParams) {
        const text = params[p.name]
        if (text === undefined) {
          problems.push({ location: "path", field: p.name, code: "missing_field", message: `"${p.name}" wasn't supplied.` })
          continue
        }
        // Path values arrive as text; integer parameters are numbers only if they look like one.
        const value = p.schema["type"] === "integer" && /^-?\d+$/.test(text) ? Number(text) : text
        if (!p.validate(value)) {
          problems.push(...toProblems("path", p.validate.errors ?? [], value, p.name))
        }
      }
      // The description gives `org` no pattern; GitHub org logins are 1..39
      // alphanumerics or single inner hyphens, so anything else is a bug.
      const org = params["org"]
      if (org !== undefined && pathParams.some((p) => p.name === "org") && !GITHUB_LOGIN.test(org)) {
        problems.push({
          location: "path",
          field: "org",
          code: "invalid",
          message: `For 'org', ${JSON.stringify(org)} is not a valid GitHub organization login (simulator rule, not in the OpenAPI description).`,
          value: org
        })
      }
      return problems
    },
    validateBody(body) {
      if (validateBodySchema === undefined || validateBodySchema(body)) return []
      return toProblems("body", validateBodySchema.errors ?? [], body, "")
    },
    unknownProperties(body) {
      return bodySchema === undefined ? [] : findUnknownProperties(bodySchema, body, "")
    },
    validateResponse(status, body) {
      if (!responseValidators.has(status)) {
        const schema = responses[String(status)]?.content?.["application/json"]?.schema
        responseValidators.set(status, schema === undefined ? undefined : ajv.compile(schema))
      }
      const validate = responseValidators.get(status)
      if (validate === undefined || validate(body)) return []
      return toProblems("body", validate.errors ?? [], body, "")
    }
  }
}

function toProblems(location: "path" | "body", errors: ReadonlyArray<ErrorObject>, root: unknown, prefix: string): Problem[] {
  return errors.map((error) => {
    const segments = error.instancePath.split("/").slice(1).map(unescapePointer)
    if (error.keyword === "required") {
      const missing = String((error.params as { missingProperty?: string }).missingProperty)
      const field = [prefix, ...segments, missing].filter((s) => s !== "").join(".")
      return { location, field, code: "missing_field" as const, message: `"${field}" wasn't supplied.` }
    }
    const field = [prefix, ...segments].filter((s) => s !== "").join(".") || "(body)"
    const value = location === "body" ? pick(root, segments) : root
    return {
      location,
      field,
      code: "invalid" as const,
      message: `For '${field}', ${preview(value)} ${describe(error)}.`,
      value
    }
  })
}

function findUnknownProperties(schema: JsonSchema, value: unknown, at: string): Problem[] {
  if (Array.isArray(value)) {
    const items = schema["items"] as JsonSchema | undefined
    return items === undefined ? [] : value.flatMap((v, i) => findUnknownProperties(items, v, join2(at, String(i))))
  }
  if (value === null || typeof value !== "object") return []
  const properties = schema["properties"] as Record<string, JsonSchema> | undefined
  if (properties === undefined) return []
  const problems: Problem[] = []
  for (const [key, v] of Object.entries(value)) {
    const sub = properties[key]
    if (sub !== undefined) {
      problems.push(...findUnknownProperties(sub, v, join2(at, key)))
    } else if (schema["additionalProperties"] === undefined) {
      const field = join2(at, key)
      problems.push({
        location: "body",
        field,
        code: "unknown_property",
        message: `'${field}' is not a property of this operation's request body; GitHub ignores it.`
      })
    }
  }
  return problems
}

const join2 = (a: string, b: string): string => (a === "" ? b : `${a}.${b}`)

const unescapePointer = (s: string): string => s.replace(/~1/g, "/").replace(/~0/g, "~")

function pick(root: unknown, segments: ReadonlyArray<string>): unknown {
  let current = root
  for (const s of segments) {
    if (current === null || typeof current !== "object") return undefined
    current = (current as Record<string, unknown>)[s]
  }
  return current
}

function describe(error: ErrorObject): string {
  const allowed = (error.params as { allowedValues?: unknown }).allowedValues
  if (error.keyword === "enum" && Array.isArray(allowed)) return `is not a member of ${JSON.stringify(allowed)}`
  return error.message ?? "is invalid"
}

function preview(value: unknown): string {
  const text = value === undefined ? "nil" : JSON.stringify(value)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}
