import { describe, expect, it } from "@effect/vitest"
import { helpText } from "../../src/config/help.ts"

// Written out here, not taken from the tables: dropping a flag or variable,
// or changing a default, must make this test fail.
const FLAGS: ReadonlyArray<readonly [string, string | undefined]> = [
  ["-kubeconfig", undefined],
  ["-namespace", undefined],
  ["-exclude-namespaces", undefined],
  ["-namespace-selector", undefined],
  ["-workers", "(default: 2)"],
  ["-metrics-port", "(default: 9090)"],
  ["-dry-run", "(default: false)"],
  ["-kube-events", "(default: true)"],
  ["-leader-elect", "(default: false)"],
  ["-leader-elect-resource-name", "(default: \"deployment-tracker\")"],
  ["-leader-elect-resource-namespace", undefined],
  ["-leader-elect-lease-duration", "(default: \"15s\")"],
  ["-leader-elect-renew-deadline", "(default: \"10s\")"],
  ["-leader-elect-retry-period", "(default: \"2s\")"],
  ["-state-configmap", "(default: \"deployment-tracker-state\")"],
  ["-resync-period", "(default: \"6h\")"],
  ["-kube-api-qps", "(default: 20)"],
  ["-kube-api-burst", "(default: 40)"]
]

const VARIABLES: ReadonlyArray<readonly [string, string]> = [
  ["GITHUB_ORG (also ORG)", "(required)"],
  ["LOGICAL_ENVIRONMENT", "(required)"],
  ["PHYSICAL_ENVIRONMENT", "(default: \"\")"],
  ["CLUSTER", "(required)"],
  ["BASE_URL", "(default: \"api.github.com\")"],
  ["DN_TEMPLATE", "(default: \"{{namespace}}/{{deploymentName}}/{{containerName}}\")"],
  ["BULK_CLUSTER_SYNC", "(default: true)"],
  ["LOG_LEVEL", "(default: \"INFO\")"],
  ["API_TOKEN", "(optional, secret)"],
  ["GH_APP_ID", "(optional)"],
  ["GH_INSTALL_ID", "(optional)"],
  ["GH_APP_PRIV_KEY_PATH (also GH_APP_PRIV_KEY)", "(optional)"],
  ["GH_APP_PRIVATE_KEY", "(optional, secret)"],
  ["API_RATE_LIMIT", "(default: 3)"],
  ["API_BURST", "(default: 20)"],
  ["API_TIMEOUT_SECONDS", "(default: 30)"],
  ["SHUTDOWN_TIMEOUT_SECONDS", "(default: 20)"],
  ["POD_NAME", "(optional)"],
  ["POD_NAMESPACE", "(optional)"],
  ["OTEL_EXPORTER_OTLP_ENDPOINT", "(optional)"],
  ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "(optional)"],
  ["OTEL_EXPORTER_OTLP_HEADERS", "(optional, secret)"],
  ["OTEL_SERVICE_NAME", "(default: \"deployment-tracker\")"],
  ["HTTPS_PROXY (also https_proxy)", "(optional, secret)"],
  ["HTTP_PROXY (also http_proxy)", "(optional, secret)"],
  ["NO_PROXY (also no_proxy)", "(optional)"],
  ["SSL_CERT_FILE", "(optional)"],
  ["SSL_CERT_DIR", "(optional)"]
]

/** Help entries: a header line `  name ...` followed by lines indented further. */
const entries = (text: string): Map<string, string> => {
  const found = new Map<string, string>()
  let current: string | undefined
  for (const line of text.split("\n")) {
    const header = /^ {2}(\S.*)$/.exec(line)
    if (header !== null) {
      current = header[1]!.replace(/ (string|int)$/, "")
      found.set(current, "")
    } else if (current !== undefined && line.startsWith("        ")) {
      found.set(current, `${found.get(current)}${line.trim()} `)
    } else {
      current = undefined
    }
  }
  return found
}

describe("help text", () => {
  const help = entries(helpText())

  it("lists exactly the flags and variables of the original plus ours, and -h", () => {
    expect([...help.keys()].sort()).toStrictEqual(
      [...FLAGS.map(([name]) => name), ...VARIABLES.map(([name]) => name), "-h, -help"].sort()
    )
  })

  for (const [flag, presence] of FLAGS) {
    it(`${flag}: described, ${presence ?? "no default"}`, () => {
      const entry = help.get(flag) ?? ""
      expect(entry.length).toBeGreaterThan(10)
      if (presence === undefined) expect(entry).not.toContain("default:")
      else expect(entry).toContain(presence)
    })
  }

  for (const [variable, presence] of VARIABLES) {
    it(`${variable}: described, ${presence}`, () => {
      const entry = help.get(variable) ?? ""
      expect(entry.length).toBeGreaterThan(10)
      expect(entry.trimEnd().endsWith(presence)).toBe(true)
    })
  }

  it("says both dash forms work", () => {
    expect(helpText()).toContain("--name")
  })
})
