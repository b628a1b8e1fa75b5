import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { FLAGS } from "../src/config/cli.ts"
import { ENVIRONMENT_VARIABLES } from "../src/config/environment.ts"

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

  it("lists the same RBAC resources as the manifest's ClusterRole", () => {
    for (const resource of ["pods", "replicasets", "deployments", "daemonsets", "statefulsets", "jobs", "cronjobs", "rollouts"]) {
      expect(manifest).toContain(resource)
      expect(readme).toContain(`\`${resource}\``)
    }
  })
})
