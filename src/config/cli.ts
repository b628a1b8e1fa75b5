import { Either } from "effect"
import { ConfigError, HelpRequested, invalidSetting, shown } from "./errors.ts"

/**
 * Command-line flags, parsed the way Go's `flag` package does it so that the
 * original's command lines keep working: `-name value`, `-name=value`, the
 * same with `--`, boolean flags as `-name` or `-name=false`, `--` ends the
 * flags. Stricter than Go where Go silently does the wrong thing: a flag
 * given twice and any positional argument are errors.
 */

/** `int` and `string` take a value; `bool` is true when given alone. */
export type FlagKind = "string" | "int" | "bool"

export interface FlagSpec {
  /** Without the dash: `workers` is given as `-workers` or `--workers`. */
  readonly name: string
  readonly kind: FlagKind
  /** Text the flag has when not given (decoded like a given value); none means unset. */
  readonly default?: string
  /** An explicitly empty value is kept as "" (it means "off") instead of falling back to the default. */
  readonly emptyIsValue?: boolean
  readonly description: string
}

/** Every flag of the controller. Adding a flag is one entry here plus its schema in settings.ts. */
export const FLAGS = [
  {
    name: "kubeconfig",
    kind: "string",
    description: "path of a kubeconfig file; when unset: $KUBECONFIG, then the in-cluster service account, then ~/.kube/config"
  },
  {
    name: "namespace",
    kind: "string",
    description: "watch only this namespace (unset: all namespaces); cannot be combined with -exclude-namespaces"
  },
  {
    name: "exclude-namespaces",
    kind: "string",
    description: "comma-separated namespaces not to watch; cannot be combined with -namespace"
  },
  {
    name: "namespace-selector",
    kind: "string",
    description:
      "report only namespaces whose labels match this label selector (e.g. tracking=on); applies with -namespace and -exclude-namespaces; needs list and watch on namespaces"
  },
  { name: "workers", kind: "int", default: "2", description: "number of workers reconciling workloads, 1..100" },
  { name: "metrics-port", kind: "int", default: "9090", description: "port of the metrics endpoint, 1..65535" },
  {
    name: "dry-run",
    kind: "bool",
    default: "false",
    description: "build, validate, log and count records but send nothing to GitHub"
  },
  {
    name: "kube-events",
    kind: "bool",
    default: "true",
    description:
      "show each deployment name's outcome (deployed, decommissioned, unknown artifact, refused, rate-limited) as a Kubernetes Event on its workload (kubectl describe); repeats are aggregated and rate-limited; off with -dry-run"
  },
  {
    name: "leader-elect",
    kind: "bool",
    default: "false",
    description: "hold a coordination.k8s.io Lease before watching and posting, so only one of several replicas works"
  },
  {
    name: "leader-elect-resource-name",
    kind: "string",
    default: "deployment-tracker",
    description: "name of the Lease used for leader election"
  },
  {
    name: "leader-elect-resource-namespace",
    kind: "string",
    description: "namespace of the Lease; unset: $POD_NAMESPACE, then deployment-tracker"
  },
  {
    name: "leader-elect-lease-duration",
    kind: "string",
    default: "15s",
    description: "how long standbys wait after the last renewal before taking over (Go duration, e.g. 15s)"
  },
  {
    name: "leader-elect-renew-deadline",
    kind: "string",
    default: "10s",
    description: "how long the leader keeps trying to renew before it stops working; less than the lease duration"
  },
  {
    name: "leader-elect-retry-period",
    kind: "string",
    default: "2s",
    description: "interval between attempts to acquire or renew the Lease"
  },
  {
    name: "state-configmap",
    kind: "string",
    default: "deployment-tracker-state",
    emptyIsValue: true,
    description:
      "ConfigMap in $POD_NAMESPACE (unset: deployment-tracker) keeping the names reported as deployed, so a workload deleted while no tracker runs is decommissioned after the restart; \"\" turns it off"
  },
  {
    name: "resync-period",
    kind: "string",
    default: "6h",
    description:
      "how often every workload is reconciled again from the caches, so a missed event or a lost answer heals without a restart (Go duration; 0 turns it off)"
  },
  {
    name: "kube-api-qps",
    kind: "string",
    default: "20",
    description: "requests per second to the Kubernetes API besides the watches (reads of owners that are not watched); 0 lifts the limit"
  },
  {
    name: "kube-api-burst",
    kind: "int",
    default: "40",
    description: "requests to the Kubernetes API that may go at once before -kube-api-qps applies"
  }
] as const satisfies ReadonlyArray<FlagSpec>

export type FlagName = (typeof FLAGS)[number]["name"]

/** A flag as a setting is named in errors and in the decoded settings: `-workers`. */
export type FlagSetting<Name extends string = FlagName> = `-${Name}`

export const flagSetting = <Name extends string>(name: Name): FlagSetting<Name> => `-${name}`

/**
 * Flag values as text keyed by setting (`-workers`), defaults applied. A flag
 * given with an empty value counts as unset, as in the original. Boolean flags
 * hold `"true"` or `"false"`.
 */
export type FlagValues = Readonly<Record<string, string>>

const HELP_NAMES = new Set(["h", "help"])

// strconv.ParseBool, which Go's boolean flags use.
const GO_TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"])
const GO_FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"])

const unexpectedArgument = (argument: string): ConfigError =>
  invalidSetting(argument, "unexpected argument: only flags are accepted (see -help)")

/** Parses argv (without the node and script paths) against a flag table. */
export const parseFlags = (
  specs: ReadonlyArray<FlagSpec>,
  argv: ReadonlyArray<string>
): Either.Either<FlagValues, ConfigError | HelpRequested> => {
  const byName = new Map(specs.map((spec) => [spec.name, spec]))
  const given = new Map<string, string>()

  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i]!
    if (argument === "--") {
      const rest = argv[i + 1]
      if (rest !== undefined) return Either.left(unexpectedArgument(rest))
      break
    }
    if (!argument.startsWith("-") || argument === "-") return Either.left(unexpectedArgument(argument))

    const body = argument.startsWith("--") ? argument.slice(2) : argument.slice(1)
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      return Either.left(invalidSetting(argument, "bad flag syntax (use -name=value or -name value)"))
    }
    const equals = body.indexOf("=")
    const name = equals === -1 ? body : body.slice(0, equals)
    const inline = equals === -1 ? undefined : body.slice(equals + 1)
    const setting = flagSetting(name)

    const spec = byName.get(name)
    if (spec === undefined) {
      if (HELP_NAMES.has(name)) return Either.left(new HelpRequested())
      return Either.left(invalidSetting(setting, "unknown flag (see -help for the list)"))
    }
    if (given.has(name)) return Either.left(invalidSetting(setting, "given more than once"))

    if (spec.kind === "bool") {
      if (inline === undefined || GO_TRUE.has(inline)) given.set(name, "true")
      else if (GO_FALSE.has(inline)) given.set(name, "false")
      else return Either.left(invalidSetting(setting, `must be true or false ${shown(inline)}`))
      continue
    }
    if (inline !== undefined) {
      given.set(name, inline)
      continue
    }
    // As in Go, the next argument is the value even when it starts with a dash (`-workers -1`).
    const next = argv[i + 1]
    if (next === undefined) {
      return Either.left(invalidSetting(setting, `needs a value (${setting}=VALUE or ${setting} VALUE)`))
    }
    given.set(name, next)
    i++
  }

  const values: Record<string, string> = {}
  for (const spec of specs) {
    const value = given.get(spec.name)
    const effective = value === undefined || (value === "" && spec.emptyIsValue !== true) ? spec.default : value
    if (effective !== undefined) values[flagSetting(spec.name)] = effective
  }
  return Either.right(values)
}
