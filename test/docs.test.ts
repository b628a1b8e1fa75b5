import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { FLAGS } from "../src/config/cli.ts"
import { ENVIRONMENT_VARIABLES } from "../src/config/environment.ts"
import { parseObjects } from "./deploy/kubeObjects.ts"

// The README's configuration tables must list what the code accepts, so
// adding a setting without documenting it fails here.
const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8")
const manifest = readFileSync(new URL("../deploy/manifest.yaml", import.meta.url), "utf8")

describe("README", () => {
  it.each(FLAGS.map((f) => f.name))("documents the -%s flag", (name) => {
    expect(readme).toContain(`| \`-${name}\``)
  })

  it.each(ENVIRONMENT_VARIABLES.map((v) => v.name))("documents %s", (name) => {
    expect(readme).toMatch(new RegExp(`\\| \`${name}\`|\`${name}\`[^|]*\\|`))
  })

  it("lists exactly the manifest's ClusterRole and Role grants, and the Lease the chart's leader election adds, in its RBAC table", () => {
    type Rule = { apiGroups: Array<string>; resources: Array<string>; verbs: Array<string> }
    const grants = (rules: ReadonlyArray<Rule>) =>
      rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res} ${v}`)))).sort()
    const cells = (row: string) => row.split("|").slice(1, -1).map((cell) => [...cell.matchAll(/`([^`]*)`/g)].map((m) => m[1]!))
    const rows = readme
      .slice(readme.indexOf("| API group | Resource | Verbs |"))
      .split("\n")
      .slice(2)
      .filter((line, index, lines) => line.startsWith("|") && lines.slice(0, index).every((l) => l.startsWith("|")))
    const documented = grants(rows.map((row) => {
      const [groups, resources, verbs] = cells(row)
      return { apiGroups: (groups ?? []).map((g) => (g === '""' ? "" : g)), resources: resources ?? [], verbs: verbs ?? [] }
    }))
    const clusterRole = (parseObjects(manifest).find((o) => o.kind === "ClusterRole")?.["rules"] ?? []) as Array<Rule>
    const leaderElection: Rule = { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] }
    const roles = parseObjects(manifest).filter((o) => o.kind === "Role").flatMap((o) => (o["rules"] ?? []) as Array<Rule>)
    expect(roles).not.toEqual([])
    expect(documented).toEqual(grants([...clusterRole, ...roles, leaderElection]))
  })
})
