import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { IMAGE_ENV, PRODUCTION_FILES, PRODUCTION_INSTALL, RUNTIME_UID } from "../../scripts/package/imageContents.ts"
import { FLAGS } from "../../src/config/cli.ts"
import { ENVIRONMENT_VARIABLES } from "../../src/config/environment.ts"
import { EVENTS_RBAC_RULE, READ_RBAC_RULES } from "../../src/kube/resources.ts"
import { containerOf, envOf, MANIFEST_SELECTOR, manifestObjects, only, podSpecOf } from "./kubeObjects.ts"

// deploy/manifest.yaml and the Dockerfile, read as data: what the
// controller needs and nothing more, hardened as the original's, in step
// with the code (flags, environment, RBAC) and with each other.

type Rule = { apiGroups: Array<string>; resources: Array<string>; verbs: Array<string>; resourceNames?: Array<string> }

/** "group/resource verb" for every grant of a list of rules. */
const grants = (rules: ReadonlyArray<Rule>): Array<string> =>
  rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res} ${v}`)))).sort()

const objects = manifestObjects()
const deployment = only(objects, "Deployment")
const container = containerOf(deployment)
const packageVersion = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version

describe("deploy/manifest.yaml", () => {
  it("holds the Namespace, ServiceAccount, ClusterRole, ClusterRoleBinding, the state Role and RoleBinding and Deployment, and nothing else", () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(
      ["ClusterRole", "ClusterRoleBinding", "Deployment", "Namespace", "Role", "RoleBinding", "ServiceAccount"]
    )
    for (const o of objects) {
      expect(o.metadata.name).toBe(o.kind === "Role" || o.kind === "RoleBinding" ? "deployment-tracker-state" : "deployment-tracker")
    }
  })

  it("grants exactly the verbs the controller uses", () => {
    const rules = (only(objects, "ClusterRole")["rules"] as Array<Rule>)
    expect(grants(rules)).toEqual(grants([
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["apps"], resources: ["deployments", "daemonsets", "statefulsets"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["get"] },
      { apiGroups: ["batch"], resources: ["jobs", "cronjobs"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["argoproj.io"], resources: ["rollouts"], verbs: ["get"] },
      { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] }
    ]))
    // The code declares what it reads and the Events it writes; the ClusterRole must cover exactly that.
    const declared = [...READ_RBAC_RULES, EVENTS_RBAC_RULE].map((r) => ({ ...r, apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] }))
    expect(grants(rules)).toEqual(grants(declared))
    for (const rule of rules) expect(rule.resourceNames).toBeUndefined()
  })

  it("selects its pods by the original manifest's selector (immutable: `kubectl apply` over an original install needs the same one)", () => {
    const spec = deployment["spec"] as { selector: unknown; template: { metadata: { labels: Record<string, string> } } }
    expect(spec.selector).toEqual({ matchLabels: MANIFEST_SELECTOR })
    expect(spec.template.metadata.labels).toMatchObject(MANIFEST_SELECTOR)
  })

  it("binds the ClusterRole to the ServiceAccount the Deployment runs as", () => {
    const binding = only(objects, "ClusterRoleBinding")
    expect(binding["roleRef"]).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "deployment-tracker" })
    expect(binding["subjects"]).toEqual([{ kind: "ServiceAccount", name: "deployment-tracker", namespace: "deployment-tracker" }])
    expect(podSpecOf(deployment)["serviceAccountName"]).toBe(only(objects, "ServiceAccount").metadata.name)
    expect(deployment.metadata.namespace).toBe(only(objects, "Namespace").metadata.name)
  })

  it("runs one replica without leader election, so it needs no Lease permissions", () => {
    expect((deployment["spec"] as { replicas: number }).replicas).toBe(1)
    expect(container.args?.some((a) => a.startsWith("-leader-elect"))).toBe(false)
    const rules = objects.filter((o) => o.kind === "Role" || o.kind === "ClusterRole").flatMap((o) => o["rules"] as Array<Rule>)
    expect(rules.some((r) => r.resources.includes("leases"))).toBe(false)
  })

  it("lets the tracker keep its state ConfigMap (the one -state-configmap names) in its own namespace, and nothing else", () => {
    const stateArg = container.args?.find((a) => a.startsWith("-state-configmap="))
    const name = stateArg?.slice("-state-configmap=".length)
    expect(name).toBe(FLAGS.find((f) => f.name === "state-configmap")?.default)
    const role = only(objects, "Role")
    expect(role.metadata.namespace).toBe(deployment.metadata.namespace)
    // create cannot be limited by name; get and update can.
    expect(role["rules"]).toEqual([
      { apiGroups: [""], resources: ["configmaps"], verbs: ["create"] },
      { apiGroups: [""], resources: ["configmaps"], resourceNames: [name], verbs: ["get", "update"] }
    ])
    const binding = only(objects, "RoleBinding")
    expect(binding.metadata.namespace).toBe(deployment.metadata.namespace)
    expect(binding["roleRef"]).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name })
    expect(binding["subjects"]).toEqual([{ kind: "ServiceAccount", name: "deployment-tracker", namespace: "deployment-tracker" }])
  })

  it("is hardened like the original: non-root (the image's user), read-only root filesystem, no privilege escalation, no capabilities", () => {
    expect(podSpecOf(deployment)["securityContext"]).toMatchObject({
      runAsNonRoot: true,
      runAsUser: RUNTIME_UID,
      runAsGroup: RUNTIME_UID,
      seccompProfile: { type: "RuntimeDefault" }
    })
    expect(container["securityContext"]).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] }
    })
  })

  it("probes /healthz (liveness) and /readyz (readiness) on the port given to -metrics-port", () => {
    const port = (container["ports"] as Array<{ name: string; containerPort: number }>).find((p) => p.name === "metrics")
    expect(container.args).toContain(`-metrics-port=${port?.containerPort}`)
    expect(container["livenessProbe"]).toMatchObject({ httpGet: { path: "/healthz", port: "metrics" } })
    expect(container["readinessProbe"]).toMatchObject({ httpGet: { path: "/readyz", port: "metrics" } })
  })

  it("gives the pod's name and namespace from the downward API and the token from a Secret", () => {
    const env = envOf(deployment)
    expect(env["POD_NAME"]).toEqual({ fieldRef: { fieldPath: "metadata.name" } })
    expect(env["POD_NAMESPACE"]).toEqual({ fieldRef: { fieldPath: "metadata.namespace" } })
    expect(env["API_TOKEN"]).toEqual({ secretKeyRef: { name: "deployment-tracker", key: "token" } })
  })

  it("uses only flags and environment variables the program knows", () => {
    const flags = new Set(FLAGS.map((f) => f.name))
    for (const arg of container.args ?? []) expect(flags).toContain(/^-+([^=]+)/.exec(arg)?.[1])
    const known = new Set([...ENVIRONMENT_VARIABLES.map((v) => v.name), "NODE_OPTIONS"])
    for (const name of Object.keys(envOf(deployment))) expect(known).toContain(name)
  })

  it("keeps the heap cap below the memory limit and the request at most the limit", () => {
    const mebibytes = (quantity: string) => Number(/^(\d+)Mi$/.exec(quantity)?.[1] ?? NaN)
    const resources = container["resources"] as { requests: { memory: string; cpu: string }; limits: { memory: string; cpu?: string } }
    const heapCap = Number(/--max-old-space-size=(\d+)/.exec(String(envOf(deployment)["NODE_OPTIONS"]))?.[1])
    const limit = mebibytes(resources.limits.memory)
    // Node's RSS is the heap plus ~100-180 MiB of code and buffers (BENCHMARKS.md, "Process benchmark").
    expect(heapCap + 200).toBeLessThanOrEqual(limit)
    expect(mebibytes(resources.requests.memory)).toBeLessThanOrEqual(limit)
    expect(resources.limits.cpu).toBeUndefined()
  })

  it("runs the image of this version", () => {
    expect(container.image).toBe(`deployment-tracker:${packageVersion}`)
  })
})

describe("Helm chart metadata", () => {
  it("has the package's version as chart version and appVersion", () => {
    const chart = readFileSync(new URL("../../deploy/charts/deployment-tracker/Chart.yaml", import.meta.url), "utf8")
    expect(/^version:\s*"?([^"\s]+)"?$/m.exec(chart)?.[1]).toBe(packageVersion)
    expect(/^appVersion:\s*"?([^"\s]+)"?$/m.exec(chart)?.[1]).toBe(packageVersion)
  })
})

describe("Dockerfile", () => {
  const dockerfile = readFileSync(new URL("../../Dockerfile", import.meta.url), "utf8")
  /** The instructions of each stage, by stage name (continuation lines joined). */
  const stages = new Map<string, Array<string>>()
  let current: Array<string> = []
  for (const line of dockerfile.replace(/\\\n/g, " ").split("\n").map((l) => l.trim())) {
    if (line === "" || line.startsWith("#")) continue
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line)
    if (from !== null) {
      current = [line]
      stages.set(from[2] ?? from[1]!, current)
    } else current.push(line)
  }
  const runtime = stages.get("runtime") ?? []
  const dependencies = stages.get("production-dependencies") ?? []

  it("builds on Node 24 and runs on Node 24", () => {
    expect([...stages.values()].map((s) => s[0])).toEqual([
      expect.stringMatching(/^FROM node:24[-.\w]* AS build$/),
      expect.stringMatching(/^FROM node:24[-.\w]* AS production-dependencies$/),
      expect.stringMatching(/^FROM gcr\.io\/distroless\/nodejs24-[\w.-]+:nonroot AS runtime$/)
    ])
  })

  it("installs production dependencies the way scripts/package/imageContents.ts reproduces it", () => {
    expect(dependencies).toContain(`RUN npm ${PRODUCTION_INSTALL.join(" ")}`)
    expect(dependencies.filter((l) => l.startsWith("RUN "))).toHaveLength(1)
  })

  it("copies into the runtime image exactly the files imageContents.ts stages, and runs node dist/main.js as user 65532", () => {
    const copied = runtime
      .filter((l) => l.startsWith("COPY "))
      .flatMap((l) => l.split(/\s+/).slice(1, -1).filter((a) => !a.startsWith("--")))
      .map((source) => source.replace(/^\/app\//, ""))
      .sort()
    expect(copied).toEqual([...PRODUCTION_FILES, "node_modules"].sort())
    expect(runtime).toContain("WORKDIR /app")
    expect(runtime).toContain(`USER ${RUNTIME_UID}:${RUNTIME_UID}`)
    expect(runtime.filter((l) => l.startsWith("RUN "))).toEqual([])
    expect(runtime.at(-1)).toBe('ENTRYPOINT ["/nodejs/bin/node", "dist/main.js"]')
  })

  it("sets in the runtime image exactly the environment imageContents.ts runs the staged image with", () => {
    const set = Object.fromEntries(runtime
      .filter((l) => l.startsWith("ENV "))
      .flatMap((l) => l.slice(4).trim().split(/\s+/))
      .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]))
    expect(set).toEqual(IMAGE_ENV)
  })

  it("sends only the build's inputs to the builder (.dockerignore)", () => {
    const ignore = readFileSync(new URL("../../.dockerignore", import.meta.url), "utf8")
    const allowed = ignore.split("\n").filter((l) => l.startsWith("!")).map((l) => l.slice(1).replace(/\/$/, "")).sort()
    const copiedFromContext = [...stages.values()].flat()
      .filter((l) => l.startsWith("COPY ") && !l.includes("--from="))
      .flatMap((l) => l.split(/\s+/).slice(1, -1))
      .sort()
    expect(ignore.split("\n")).toContain("*")
    expect([...new Set(copiedFromContext)].sort()).toEqual(allowed)
  })
})
