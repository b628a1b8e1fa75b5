import { loadAllYaml } from "@kubernetes/client-node"
import { spawnSync } from "node:child_process"
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { ensurePromtool } from "../../scripts/promtool/build.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { type Helm, openHelm } from "./helm.ts"
import { type KubeObject, only } from "./kubeObjects.ts"

// The chart's monitoring: serviceMonitor.enabled renders a ServiceMonitor of
// the Service's metrics port, prometheusRule.enabled a PrometheusRule whose
// alerts select exactly what that ServiceMonitor scrapes and use the
// tracker's real metric names. promtool (scripts/promtool, built from the
// Go module proxy and cached; built here on first use) checks the rules and
// runs their unit tests, test/deploy/alerts.test.yaml.

const UNIT_TESTS = fileURLToPath(new URL("./alerts.test.yaml", import.meta.url))
const LEADER_ELECTION_SOURCE = new URL("../../src/leader/LeaderElection.ts", import.meta.url)
const README = new URL("../../README.md", import.meta.url)

interface Rule {
  readonly alert: string
  readonly expr: string
  readonly for?: string
  readonly labels: Record<string, string>
  readonly annotations: { readonly summary: string; readonly description: string }
}
interface RuleGroup {
  readonly name: string
  readonly rules: ReadonlyArray<Rule>
}

const groupsOf = (rule: KubeObject): ReadonlyArray<RuleGroup> => (rule["spec"] as { groups: Array<RuleGroup> }).groups
const rulesOf = (rule: KubeObject): ReadonlyArray<Rule> => groupsOf(rule).flatMap((g) => g.rules)

/** Metric names an expression reads: identifiers followed by a label selector. */
const metricNames = (expr: string): Array<string> => [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((m) => m[1]!)

/** Every label selector of an expression, as written. */
const selectors = (expr: string): Array<string> => [...expr.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!)

const MONITORING = ["service.enabled=true", "serviceMonitor.enabled=true", "prometheusRule.enabled=true"]

let helm: Helm
let promtool: string
let workDir: string

beforeAll(async () => {
  helm = await openHelm()
  promtool = (await ensurePromtool({ log: (m) => process.stderr.write(`[promtool] ${m}\n`) })).binary
  workDir = mkdtempSync(join(tmpdir(), "dt-promtool-"))
}, 3_600_000) // a cold promtool build takes many minutes on 2 cores

afterAll(() => {
  helm?.close()
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true })
})

const runPromtool = (args: ReadonlyArray<string>) => {
  const result = spawnSync(promtool, args, { cwd: workDir, encoding: "utf8", timeout: 120_000 })
  if (result.error !== undefined) throw result.error
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

describe("chart monitoring switches", () => {
  it("renders no ServiceMonitor and no PrometheusRule by default (the manifest's objects stay the same)", () => {
    for (const set of [[], ["service.enabled=true"]]) {
      const kinds = helm.template({ set }).map((o) => o.kind)
      expect(kinds).not.toContain("ServiceMonitor")
      expect(kinds).not.toContain("PrometheusRule")
    }
  })

  it("ServiceMonitor: scrapes the metrics port of this release's Service in its namespace", () => {
    const objects = helm.template({
      release: "tracker",
      namespace: "tools",
      set: [...MONITORING, "serviceMonitor.additionalLabels.release=kube-prometheus-stack", "serviceMonitor.interval=15s"]
    })
    const service = only(objects, "Service")
    const monitor = only(objects, "ServiceMonitor")
    expect(monitor.apiVersion).toBe("monitoring.coreos.com/v1")
    expect(monitor.metadata.namespace).toBe("tools")
    expect(monitor.metadata.labels).toMatchObject({ release: "kube-prometheus-stack", "app.kubernetes.io/instance": "tracker" })
    const spec = monitor["spec"] as {
      namespaceSelector: { matchNames: Array<string> }
      selector: { matchLabels: Record<string, string> }
      endpoints: Array<Record<string, unknown>>
    }
    expect(spec.namespaceSelector).toEqual({ matchNames: [service.metadata.namespace] })
    // The selector matches this Service's labels and no other release's.
    expect(service.metadata.labels).toMatchObject(spec.selector.matchLabels)
    expect(spec.selector.matchLabels).toEqual({ "app.kubernetes.io/name": "deployment-tracker", "app.kubernetes.io/instance": "tracker" })
    const servicePorts = (service["spec"] as { ports: Array<{ name: string }> }).ports.map((p) => p.name)
    expect(spec.endpoints).toEqual([{ port: "metrics", path: "/metrics", interval: "15s" }])
    expect(servicePorts).toContain(spec.endpoints[0]!["port"])

    expect(helm.templateError({ set: ["serviceMonitor.enabled=true"] })).toContain("serviceMonitor.enabled needs service.enabled")
  })

  it("PrometheusRule: every expression selects the job (the Service's name) and namespace the ServiceMonitor scrapes", () => {
    for (const [release, namespace] of [["deployment-tracker", "deployment-tracker"], ["tracker", "tools"]] as const) {
      const objects = helm.template({ release, namespace, set: MONITORING })
      const serviceName = only(objects, "Service").metadata.name
      const rule = only(objects, "PrometheusRule")
      expect(rule.metadata.namespace).toBe(namespace)
      const expected = `job="${serviceName}",namespace="${namespace}"`
      for (const { alert, expr } of rulesOf(rule)) {
        const found = selectors(expr)
        expect(found.length, alert).toBeGreaterThan(0)
        for (const selector of found) expect(selector.startsWith(expected), `${alert}: {${selector}}`).toBe(true)
      }
    }
    const custom = rulesOf(only(helm.template({ set: [...MONITORING, "prometheusRule.selector=app=\"dt\""] }), "PrometheusRule"))
    for (const { alert, expr } of custom) {
      for (const selector of selectors(expr)) expect(selector.startsWith('app="dt"'), alert).toBe(true)
    }
  })

  it("PrometheusRule: reads only metrics the tracker exports (src/observability/Metrics.ts, the leader gauge) and Prometheus' up", () => {
    const registered = Effect.runSync(Effect.map(Metrics, (m) => m.registry.getMetricsAsArray().map((metric) => metric.name)).pipe(
      Effect.provide(Metrics.Default)
    ))
    // The leader gauge is registered only with leader election on.
    expect(readFileSync(LEADER_ELECTION_SOURCE, "utf8")).toContain('name: "deployment_tracker_leader"')
    const known = new Set([...registered, "deployment_tracker_leader", "up"])
    const used = rulesOf(only(helm.template({ set: MONITORING }), "PrometheusRule")).flatMap((r) => metricNames(r.expr))
    expect(used.length).toBeGreaterThan(0)
    expect(used.filter((name) => !known.has(name))).toEqual([])
  })

  it("PrometheusRule: per-alert enabled, for and severity, labels for every alert, and unknown alert names refused", () => {
    const rules = rulesOf(only(
      helm.template({
        set: [
          ...MONITORING,
          "prometheusRule.alerts.DeploymentTrackerRestarting.enabled=false",
          "prometheusRule.alerts.DeploymentTrackerNotReady.for=30m",
          "prometheusRule.alerts.DeploymentTrackerNotReady.severity=warning",
          "prometheusRule.additionalRuleLabels.team=platform",
          "prometheusRule.additionalRuleLabels.severity=ignored",
          "prometheusRule.additionalLabels.release=kube-prometheus-stack"
        ]
      }),
      "PrometheusRule"
    ))
    const byName = new Map(rules.map((r) => [r.alert, r]))
    expect(byName.has("DeploymentTrackerRestarting")).toBe(false)
    expect(byName.get("DeploymentTrackerNotReady")).toMatchObject({ for: "30m", labels: { severity: "warning", team: "platform" } })
    expect(byName.get("DeploymentTrackerDown")).toMatchObject({ for: "5m", labels: { severity: "critical", team: "platform" } })
    for (const rule of rules) {
      expect(rule.labels["team"], rule.alert).toBe("platform")
      expect(["critical", "warning", "info"], rule.alert).toContain(rule.labels["severity"])
      expect(rule.annotations.summary, rule.alert).not.toBe("")
      expect(rule.annotations.description, rule.alert).not.toBe("")
    }
    expect(helm.templateError({ set: [...MONITORING, "prometheusRule.alerts.DeploymentTrackerTypo.for=5m"] }))
      .toContain("prometheusRule.alerts.DeploymentTrackerTypo: no such alert")
  })

  it("the README's Alerts table lists exactly the chart's alerts, each with its default severity and for", () => {
    const readme = readFileSync(README, "utf8")
    const table = readme.slice(readme.indexOf("| Alert | Severity, for |")).split("\n").slice(2)
    const rows = table.slice(0, table.findIndex((line) => !line.startsWith("|")))
    const documented = rows.map((row) => {
      const [alert, severityFor] = row.split("|").slice(1, 3).map((cell) => cell.trim())
      return `${alert?.replaceAll("`", "")}: ${severityFor}`
    })
    const rendered = rulesOf(only(helm.template({ set: MONITORING }), "PrometheusRule"))
      .map((r) => `${r.alert}: ${r.labels["severity"]}, ${r.for ?? "at once"}`)
    expect(documented.sort()).toEqual(rendered.sort())
  })
})

describe("PrometheusRule with promtool", () => {
  const rendered = () => only(helm.template({ set: MONITORING }), "PrometheusRule")

  it("passes promtool check rules", () => {
    const groups = groupsOf(rendered())
    writeFileSync(join(workDir, "full.rules.yaml"), JSON.stringify({ groups }, null, 2))
    const check = runPromtool(["check", "rules", "full.rules.yaml"])
    expect(check.status, check.output).toBe(0)
    expect(check.output).toContain(`SUCCESS: ${groups.flatMap((g) => g.rules).length} rules found`)
  })

  it("passes its unit tests (test/deploy/alerts.test.yaml), which cover every alert firing and not firing", () => {
    // The unit tests compare summaries; descriptions are long static text (check rules parses their templates).
    const groups = groupsOf(rendered()).map((g) => ({
      ...g,
      rules: g.rules.map((r) => ({ ...r, annotations: { summary: r.annotations.summary } }))
    }))
    writeFileSync(join(workDir, "alerts.rules.yaml"), JSON.stringify({ groups }, null, 2))
    copyFileSync(UNIT_TESTS, join(workDir, "alerts.test.yaml"))

    const unitTests = loadAllYaml(readFileSync(UNIT_TESTS, "utf8"))[0] as {
      tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: Array<unknown> }> }>
    }
    const cases = unitTests.tests.flatMap((t) => t.alert_rule_test)
    for (const { alert } of groups.flatMap((g) => g.rules)) {
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert} fires in a test`).toBe(true)
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0), `${alert} stays silent in a test`).toBe(true)
    }

    const run = runPromtool(["test", "rules", "alerts.test.yaml"])
    expect(run.status, run.output).toBe(0)
    expect(run.output).toContain("SUCCESS")
  })
})
