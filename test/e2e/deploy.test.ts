import { KubeConfig } from "@kubernetes/client-node"
import { randomBytes } from "node:crypto"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { request, type RequestOptions } from "node:https"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"
import { kubectlResult } from "../../scripts/cluster/controlPlane.ts"
import { freePorts } from "../../scripts/cluster/processes.ts"
import {
  contentProblems,
  inClusterForImage,
  RUNTIME_UID,
  runSandboxed,
  type StagedImage,
  stageImage
} from "../../scripts/package/imageContents.ts"
import { startImageTracker } from "../../scripts/package/imageTracker.ts"
import { CHART_DIR, type Helm, MANIFEST_VALUES, openHelm } from "../deploy/helm.ts"
import {
  asChartRendersIt,
  chartSelector,
  envOf,
  HELM_STANDARD_LABELS,
  keyOf,
  type KubeObject,
  MANIFEST_PATH,
  MANIFEST_SELECTOR,
  manifestObjects,
  only,
  withoutHelmLabels
} from "../deploy/kubeObjects.ts"
import { GITHUB_TOKEN, TRACKER_NAMESPACE, TRACKER_SERVICE_ACCOUNT } from "./support/constants.ts"
import { eventually } from "./support/eventually.ts"
import { apply, deleteNamespaces, kube, pods } from "./support/kube.ts"
import { recordsLand, runningDigests, useScenario } from "./support/scenario.ts"
import { deployment } from "./support/workloads.ts"

// Packaging, proven on the control plane: deploy/manifest.yaml applies and
// its ServiceAccount may do what the ClusterRole says and nothing else; the
// Helm chart lints, renders the manifest's objects and installs; the
// Dockerfile's runtime image, reproduced without Docker, runs read-only as
// its non-root user and posts records. (Every other e2e test already runs
// the tracker with the ServiceAccount's own token: globalSetup.ts.)

const MANIFEST = fileURLToPath(MANIFEST_PATH)
const SERVICE_ACCOUNT = `system:serviceaccount:${TRACKER_NAMESPACE}:${TRACKER_SERVICE_ACCOUNT}`

/** kubectl as the tracker's ServiceAccount (its bound token), never the admin. */
const asTracker = (args: ReadonlyArray<string>) =>
  kubectlResult([...args], { stateDir: inject("clusterDir"), kubeconfig: inject("trackerKubeconfig") })

/** A request to the API server with the ServiceAccount's kubeconfig (its own token): status and parsed body. */
const trackerRequest = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
  const config = new KubeConfig()
  config.loadFromFile(inject("trackerKubeconfig"))
  const server = new URL(config.getCurrentCluster()!.server)
  const options: RequestOptions = {
    hostname: server.hostname,
    port: server.port,
    path,
    method,
    headers: { accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) }
  }
  await config.applyToHTTPSOptions(options)
  return await new Promise((resolve, reject) => {
    const req = request(options, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        resolve({ status: response.statusCode ?? 0, body: text.startsWith("{") ? JSON.parse(text) : text })
      })
    })
    req.on("error", reject)
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

/**
 * May the ServiceAccount do this? Asked by the ServiceAccount itself with a
 * SelfSubjectAccessReview (what `kubectl auth can-i` sends; direct, so that
 * a kind the server does not serve, such as Argo's rollouts, is asked about
 * too). "yes" or "no".
 */
const trackerCan = async (verb: string, group: string, resource: string, namespace?: string, name?: string): Promise<string> => {
  const review = await trackerRequest("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SelfSubjectAccessReview",
    spec: {
      resourceAttributes: {
        verb,
        group,
        resource,
        ...(namespace === undefined ? {} : { namespace }),
        ...(name === undefined ? {} : { name })
      }
    }
  })
  if (review.status !== 201) throw new Error(`SelfSubjectAccessReview: HTTP ${review.status} ${JSON.stringify(review.body)}`)
  return (review.body as { status: { allowed: boolean } }).status.allowed ? "yes" : "no"
}

type Rule = { apiGroups: Array<string>; resources: Array<string>; verbs: Array<string> }

const packageVersion = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version

/**
 * A chart in the shape of the original's (written here, not copied): chart
 * name deployment-tracker, objects named `<release>-deployment-tracker`, the
 * Deployment selecting its pods by app.kubernetes.io/name and
 * app.kubernetes.io/instance, a metrics Service selecting them the same way.
 */
const writeOriginalShapedChart = (): { dir: string; remove: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), "dt-original-chart-"))
  mkdirSync(join(dir, "templates"))
  writeFileSync(join(dir, "Chart.yaml"), "apiVersion: v2\nname: deployment-tracker\nversion: 1.0.0\nappVersion: \"v1.0.0\"\n")
  const selector = '{"app.kubernetes.io/name": "deployment-tracker", "app.kubernetes.io/instance": "{{ .Release.Name }}"}'
  const labels = '{"app.kubernetes.io/name": "deployment-tracker", "app.kubernetes.io/instance": "{{ .Release.Name }}", ' +
    '"helm.sh/chart": "deployment-tracker-1.0.0", "app.kubernetes.io/managed-by": "{{ .Release.Service }}"}'
  const name = "{{ .Release.Name }}-deployment-tracker"
  const documents = [
    `{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "${name}", "namespace": "{{ .Release.Namespace }}", "labels": ${labels}}}`,
    `{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "${name}", "labels": ${labels}}, "rules": [` +
    '{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}, ' +
    '{"apiGroups": ["apps"], "resources": ["deployments", "daemonsets", "statefulsets"], "verbs": ["get", "list", "watch"]}, ' +
    '{"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get"]}, ' +
    '{"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["get", "list", "watch"]}]}',
    `{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "${name}", "labels": ${labels}}, ` +
    `"subjects": [{"kind": "ServiceAccount", "name": "${name}", "namespace": "{{ .Release.Namespace }}"}], ` +
    `"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "${name}"}}`,
    `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "${name}", "namespace": "{{ .Release.Namespace }}", "labels": ${labels}}, ` +
    `"spec": {"type": "ClusterIP", "selector": ${selector}, "ports": [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]}}`,
    `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "${name}", "namespace": "{{ .Release.Namespace }}", "labels": ${labels}}, ` +
    `"spec": {"replicas": 1, "selector": {"matchLabels": ${selector}}, "template": {"metadata": {"labels": ${labels}}, "spec": {` +
    `"serviceAccountName": "${name}", "containers": [{"name": "deployment-tracker", "image": "ghcr.io/github/deployment-tracker:v1.0.0", ` +
    '"env": [{"name": "GITHUB_ORG", "value": "my-org"}, {"name": "LOGICAL_ENVIRONMENT", "value": "staging"}, {"name": "CLUSTER", "value": "my-cluster"}], ' +
    '"ports": [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]}]}}}}'
  ]
  writeFileSync(join(dir, "templates", "objects.yaml"), documents.join("\n---\n") + "\n")
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

const containerImageOfManifest = (): string =>
  ((only(manifestObjects(), "Deployment")["spec"] as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec.containers[0]!.image)

/**
 * An install of the original as its deploy/manifest.yaml makes it (written
 * out here from its shape, not copied): the same names, a ClusterRole
 * without Argo Rollouts, and a Deployment whose pods carry and are selected
 * by `app: deployment-tracker`, pointing at a service in the cluster.
 */
const originalManifestShape = (): Array<Record<string, unknown>> => {
  const name = "deployment-tracker"
  const app = { app: name }
  const read = ["get", "list", "watch"]
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: TRACKER_NAMESPACE } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name },
      rules: [
        { apiGroups: [""], resources: ["pods"], verbs: read },
        { apiGroups: ["apps"], resources: ["deployments", "daemonsets", "statefulsets"], verbs: read },
        { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["get"] },
        { apiGroups: ["batch"], resources: ["jobs", "cronjobs"], verbs: read }
      ]
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name },
      subjects: [{ kind: "ServiceAccount", name, namespace: TRACKER_NAMESPACE }],
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name }
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: TRACKER_NAMESPACE, labels: app },
      spec: {
        replicas: 1,
        selector: { matchLabels: app },
        template: {
          metadata: { labels: app },
          spec: {
            serviceAccountName: name,
            containers: [{
              name,
              image: "ghcr.io/github/deployment-tracker:v1.0.0",
              env: [
                { name: "GITHUB_ORG", value: "my-org" },
                { name: "LOGICAL_ENVIRONMENT", value: "staging" },
                { name: "CLUSTER", value: "my-cluster" },
                { name: "BASE_URL", value: "http://github-auth.tools.svc.cluster.local:9090" }
              ],
              securityContext: { runAsNonRoot: true, runAsUser: 1000, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false }
            }]
          }
        }
      }
    }
  ]
}

describe("deploy/manifest.yaml", () => {
  it("applies cleanly, runs, and the README's verification commands answer", async () => {
    try {
      // As the README says: the token Secret first, then the manifest.
      await kube(["create", "secret", "generic", "deployment-tracker", "-n", TRACKER_NAMESPACE, `--from-literal=token=${GITHUB_TOKEN}`])
      const applied = await kube(["apply", "-f", MANIFEST])
      expect(applied).toContain("deployment.apps/deployment-tracker")

      // kwok plays the kubelet: the pod runs (no image is pulled) once the API accepted everything.
      await kube(["rollout", "status", "deployment/deployment-tracker", "-n", TRACKER_NAMESPACE, "--timeout=60s"])
      expect(await kube(["get", "deployment", "-n", TRACKER_NAMESPACE])).toMatch(/^deployment-tracker\s+1\/1\s/m)
      const running = (await pods(TRACKER_NAMESPACE)).filter((p) => p.status.phase === "Running")
      expect(running).toHaveLength(1)
      expect((await kube(["get", "pods", "-n", TRACKER_NAMESPACE])).split("\n").filter((l) => /\sRunning\s/.test(l))).toHaveLength(1)
      expect((await kube(["auth", "can-i", "list", "pods", `--as=${SERVICE_ACCOUNT}`])).trim()).toBe("yes")
    } finally {
      // The rest of the ServiceAccount's objects stay: the other test files run as it.
      await kube(["delete", "deployment", "deployment-tracker", "-n", TRACKER_NAMESPACE, "--ignore-not-found"])
      await kube(["delete", "secret", "deployment-tracker", "-n", TRACKER_NAMESPACE, "--ignore-not-found"])
      await eventually("the manifest's pod gone", async () => {
        const left = await pods(TRACKER_NAMESPACE)
        if (left.length > 0) throw new Error(left.map((p) => p.metadata.name).join(", "))
      }, { deadlineMs: 60_000 })
    }
  })

  // An install of the original, in its manifest's shape (the same object
  // names, its ClusterRole, its Deployment selecting `app: deployment-tracker`),
  // upgraded in place as the README's migration section says.
  it("`kubectl apply -f deploy/manifest.yaml` over an install of the original's manifest shape succeeds and rolls out", async () => {
    try {
      await apply(...originalManifestShape())
      await kube(["rollout", "status", "deployment/deployment-tracker", "-n", TRACKER_NAMESPACE, "--timeout=60s"])
      const before = (await pods(TRACKER_NAMESPACE)).map((p) => p.metadata.name)
      expect(before).toHaveLength(1)

      await kube(["create", "secret", "generic", "deployment-tracker", "-n", TRACKER_NAMESPACE, `--from-literal=token=${GITHUB_TOKEN}`])
      const applied = await kubectlResult(["apply", "-f", MANIFEST], { stateDir: inject("clusterDir") })
      expect(applied.code, applied.stderr).toBe(0)
      expect(applied.stdout).toContain("deployment.apps/deployment-tracker configured")
      await kube(["rollout", "status", "deployment/deployment-tracker", "-n", TRACKER_NAMESPACE, "--timeout=60s"])

      // The new pod runs this version's image with the manifest's labels; the original's pod is gone.
      await eventually("only the upgraded pod runs", async () => {
        const now = await pods(TRACKER_NAMESPACE)
        expect(now.map((p) => p.metadata.name).filter((name) => before.includes(name))).toEqual([])
        expect(now.filter((p) => p.status.phase === "Running")).toHaveLength(1)
      }, { deadlineMs: 60_000 })
      const deploymentNow = JSON.parse(await kube(["get", "deployment", "deployment-tracker", "-n", TRACKER_NAMESPACE, "-o", "json"])) as {
        spec: { selector: unknown; template: { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ image: string }> } } }
      }
      expect(deploymentNow.spec.selector).toEqual({ matchLabels: MANIFEST_SELECTOR })
      expect(deploymentNow.spec.template.metadata.labels).toMatchObject({ "app.kubernetes.io/name": "deployment-tracker" })
      expect(deploymentNow.spec.template.spec.containers[0]?.image).toBe(containerImageOfManifest())
      // The ClusterRole is this version's again (the original's has no Argo Rollouts).
      expect(await trackerCan("get", "argoproj.io", "rollouts")).toBe("yes")
    } finally {
      // The manifest's RBAC objects stay as this version has them: the other test files run as its ServiceAccount.
      await kubectlResult(["apply", "-f", MANIFEST], { stateDir: inject("clusterDir") })
      await kube(["delete", "deployment", "deployment-tracker", "-n", TRACKER_NAMESPACE, "--ignore-not-found"])
      await kube(["delete", "secret", "deployment-tracker", "-n", TRACKER_NAMESPACE, "--ignore-not-found"])
      await eventually("the manifest's pods gone", async () => {
        const left = await pods(TRACKER_NAMESPACE)
        if (left.length > 0) throw new Error(left.map((p) => p.metadata.name).join(", "))
      }, { deadlineMs: 60_000 })
    }
  })

  it("the ServiceAccount's own token may do what the ClusterRole grants, in every namespace", async () => {
    const rules = only(manifestObjects(), "ClusterRole")["rules"] as Array<Rule>
    for (const rule of rules) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) {
          for (const verb of rule.verbs) {
            expect(`${verb} ${group}/${resource}: ${await trackerCan(verb, group, resource)}`).toBe(`${verb} ${group}/${resource}: yes`)
          }
        }
      }
    }
    // The state Role: its ConfigMap in the tracker's namespace.
    for (const verb of ["get", "update"]) {
      expect(`${verb} state: ${await trackerCan(verb, "", "configmaps", TRACKER_NAMESPACE, "deployment-tracker-state")}`).toBe(`${verb} state: yes`)
    }
    expect(await trackerCan("create", "", "configmaps", TRACKER_NAMESPACE)).toBe("yes")
  })

  it("the same token is refused anything beyond the ClusterRole (auth can-i, and a real request answers 403)", async () => {
    const refused: ReadonlyArray<[verb: string, group: string, resource: string, namespace?: string]> = [
      ["list", "", "secrets"],
      ["get", "", "secrets", TRACKER_NAMESPACE],
      ["get", "", "configmaps"],
      ["list", "", "configmaps", TRACKER_NAMESPACE],
      ["update", "", "configmaps", TRACKER_NAMESPACE],
      ["create", "", "configmaps", "default"],
      ["create", "", "pods"],
      ["delete", "", "pods"],
      ["patch", "", "pods"],
      ["update", "apps", "deployments"],
      ["list", "apps", "replicasets"],
      ["list", "argoproj.io", "rollouts"],
      ["list", "", "nodes"],
      ["create", "coordination.k8s.io", "leases", TRACKER_NAMESPACE],
      ["get", "coordination.k8s.io", "leases", TRACKER_NAMESPACE],
      ["create", "", "serviceaccounts", TRACKER_NAMESPACE],
      // Events are written (create, patch), never read, updated or deleted; core/v1 events not at all.
      ["get", "events.k8s.io", "events"],
      ["list", "events.k8s.io", "events", "default"],
      ["update", "events.k8s.io", "events"],
      ["delete", "events.k8s.io", "events"],
      ["create", "", "events"],
      ["patch", "", "events"]
    ]
    for (const [verb, group, resource, namespace] of refused) {
      expect(`${verb} ${group}/${resource}: ${await trackerCan(verb, group, resource, namespace)}`).toBe(`${verb} ${group}/${resource}: no`)
    }
    // Another ConfigMap than the state's: no.
    expect(await trackerCan("get", "", "configmaps", TRACKER_NAMESPACE, "something-else")).toBe("no")
    // The README's command, as the admin impersonating the ServiceAccount.
    expect((await kubectlResult(["auth", "can-i", "list", "secrets", `--as=${SERVICE_ACCOUNT}`], { stateDir: inject("clusterDir") })).stdout.trim()).toBe("no")
    // Real requests with the token: what is granted answers 200, the rest 403.
    const status = async (path: string) => (await trackerRequest("GET", path)).status
    expect(await status("/api/v1/pods?limit=1")).toBe(200)
    expect(await status(`/api/v1/namespaces/${TRACKER_NAMESPACE}/secrets`)).toBe(403)
    expect(await status("/api/v1/secrets?limit=1")).toBe(403)
    expect(await status("/apis/apps/v1/replicasets?limit=1")).toBe(403)
    const listed = await asTracker(["get", "secrets", "-n", TRACKER_NAMESPACE])
    expect(listed.code).not.toBe(0)
    expect(listed.stderr).toMatch(/forbidden/i)
  })
})

describe("Helm chart deploy/charts/deployment-tracker", () => {
  let helm: Helm
  beforeAll(async () => {
    helm = await openHelm()
  })
  afterAll(() => helm?.close())

  it("passes helm lint (strict with the manifest's values, also with the ServiceMonitor and PrometheusRule on; default values too)", () => {
    const strict = helm.run(["lint", "--strict", CHART_DIR, "--values", MANIFEST_VALUES])
    expect(strict.status, strict.stdout + strict.stderr).toBe(0)
    const defaults = helm.run(["lint", CHART_DIR])
    expect(defaults.status, defaults.stdout + defaults.stderr).toBe(0)
    // The monitoring objects (ServiceMonitor, PrometheusRule), off by default.
    const monitoring = helm.run([
      "lint", "--strict", CHART_DIR, "--values", MANIFEST_VALUES,
      "--set", "service.enabled=true", "--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true"
    ])
    expect(monitoring.status, monitoring.stdout + monitoring.stderr).toBe(0)
  })

  it(`renders the manifest's objects with test/deploy/manifest-values.yaml (all but the Namespace; ignoring ${HELM_STANDARD_LABELS.join(", ")}; each with the selector of the original's own)`, () => {
    const rendered = helm.template().map(withoutHelmLabels)
    const expected = manifestObjects().filter((o) => o.kind !== "Namespace").map(asChartRendersIt)
    expect(rendered.map(keyOf).sort()).toEqual(expected.map(keyOf).sort())
    const byKey = new Map(rendered.map((o) => [keyOf(o), o]))
    for (const object of expected) expect(byKey.get(keyOf(object)), keyOf(object)).toEqual(object)
    // The labels the comparison ignores are there.
    for (const label of HELM_STANDARD_LABELS) expect(only(helm.template(), "Deployment").metadata.labels).toHaveProperty([label])
    // The selectors the comparison sets aside: the original chart's, and the original manifest's.
    expect((only(rendered, "Deployment")["spec"] as { selector: unknown }).selector).toEqual({ matchLabels: chartSelector("deployment-tracker") })
    expect((only(manifestObjects(), "Deployment")["spec"] as { selector: unknown }).selector).toEqual({ matchLabels: MANIFEST_SELECTOR })
  })

  it("keeps the original chart's values keys working", () => {
    const rendered = helm.template({
      release: "tracker",
      namespace: "tools",
      set: [
        "config.excludeNamespaces=kube-system\\,tools",
        "config.workers=5",
        "config.metricsPort=9102",
        "config.bulkClusterSync=false",
        "config.physicalEnvironment=eu-west-1",
        "config.baseUrl=https://ghe.example.com/api/v3",
        "auth.apiTokenSecret=",
        "auth.githubApp.appId=12345",
        "auth.githubApp.installId=678",
        "auth.githubApp.privateKeySecret=app-key",
        "image.repository=registry.example.com/dt",
        "image.tag=1.2.3",
        "image.pullPolicy=Always",
        "serviceAccount.create=false",
        "serviceAccount.name=existing-sa",
        "service.enabled=true",
        "service.port=8080",
        "resources.requests.memory=300Mi",
        "securityContext.runAsUser=1000",
        "readinessProbe.initialDelaySeconds=7",
        "lifecycle.preStop.sleep.seconds=5",
        "podAnnotations.prometheus\\.io/scrape=true",
        "podLabels.team=platform",
        "nodeSelector.kubernetes\\.io/os=linux",
        "tolerations[0].key=dedicated",
        "tolerations[0].operator=Exists",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists"
      ],
      setLiteral: ["config.dnTemplate={{namespace}}-{{deploymentName}}"]
    })
    const deploymentObject = only(rendered, "Deployment")
    const spec = (deploymentObject["spec"] as { template: { metadata: { annotations: unknown; labels: Record<string, string> }; spec: Record<string, unknown> } }).template
    const container = (spec.spec["containers"] as Array<Record<string, unknown>>)[0]!
    expect(container["args"]).toEqual(["-workers=5", "-metrics-port=9102", "-exclude-namespaces=kube-system,tools", "-state-configmap=tracker-deployment-tracker-state"])
    expect(container["image"]).toBe("registry.example.com/dt:1.2.3")
    expect(container["imagePullPolicy"]).toBe("Always")
    expect(container["ports"]).toEqual([{ name: "metrics", containerPort: 9102, protocol: "TCP" }])
    expect(envOf(deploymentObject)).toMatchObject({
      PHYSICAL_ENVIRONMENT: "eu-west-1",
      BASE_URL: "https://ghe.example.com/api/v3",
      DN_TEMPLATE: "{{namespace}}-{{deploymentName}}",
      BULK_CLUSTER_SYNC: "false",
      GH_APP_ID: "12345",
      GH_INSTALL_ID: "678",
      GH_APP_PRIVATE_KEY: { secretKeyRef: { name: "app-key", key: "private-key" } }
    })
    expect(envOf(deploymentObject)).not.toHaveProperty("API_TOKEN")
    expect(spec.spec["serviceAccountName"]).toBe("existing-sa")
    expect(rendered.some((o) => o.kind === "ServiceAccount")).toBe(false)
    expect(only(rendered, "ClusterRoleBinding")["subjects"]).toEqual([{ kind: "ServiceAccount", name: "existing-sa", namespace: "tools" }])
    expect(only(rendered, "Service")["spec"]).toMatchObject({ ports: [{ port: 8080, targetPort: "metrics" }] })
    expect(container["resources"]).toMatchObject({ requests: { memory: "300Mi" } })
    expect(container["securityContext"]).toMatchObject({ runAsUser: 1000, readOnlyRootFilesystem: true })
    expect(container["readinessProbe"]).toMatchObject({ httpGet: { path: "/readyz" }, initialDelaySeconds: 7 })
    expect(container["lifecycle"]).toEqual({ preStop: { sleep: { seconds: 5 } } })
    expect(spec.metadata.annotations).toEqual({ "prometheus.io/scrape": "true" })
    expect(spec.metadata.labels).toMatchObject({ team: "platform", "app.kubernetes.io/instance": "tracker" })
    expect(spec.spec["nodeSelector"]).toEqual({ "kubernetes.io/os": "linux" })
    expect(spec.spec["tolerations"]).toEqual([{ key: "dedicated", operator: "Exists" }])
    expect(spec.spec["affinity"]).toHaveProperty(["nodeAffinity"])

    // Inline credentials go to a Secret of the chart's, never into the pod spec.
    const inline = helm.template({ set: ["auth.apiTokenSecret=", "auth.apiToken=ghp_inline", "auth.githubApp.privateKey=UEVNCg=="] })
    const secret = only(inline, "Secret")
    expect(secret["data"]).toEqual({ token: Buffer.from("ghp_inline").toString("base64"), "private-key": Buffer.from("UEVNCg==").toString("base64") })
    expect(envOf(only(inline, "Deployment"))).toMatchObject({
      API_TOKEN: { secretKeyRef: { name: "deployment-tracker", key: "token" } },
      GH_APP_PRIVATE_KEY: { secretKeyRef: { name: "deployment-tracker", key: "private-key" } }
    })
    expect(JSON.stringify(only(inline, "Deployment"))).not.toContain("ghp_inline")
  })

  it("sets the newer settings: -dry-run, -namespace, API and shutdown timing, log level, tracing", () => {
    const rendered = only(helm.template({
      set: [
        "config.dryRun=true",
        "config.namespace=apps",
        "config.logLevel=DEBUG",
        "config.apiRateLimit=5",
        "config.apiBurst=10",
        "config.apiTimeoutSeconds=15",
        "config.shutdownTimeoutSeconds=25",
        "tracing.otlpEndpoint=http://otel-collector.observability.svc:4318",
        "tracing.headersSecret.name=otel-headers",
        "tracing.serviceName=dt-prod"
      ]
    }), "Deployment")
    expect((rendered["spec"] as { template: { spec: { containers: Array<{ args: Array<string> }> } } }).template.spec.containers[0]!.args)
      .toEqual(["-workers=2", "-metrics-port=9090", "-namespace=apps", "-dry-run", "-state-configmap=deployment-tracker-state"])
    expect(envOf(rendered)).toMatchObject({
      LOG_LEVEL: "DEBUG",
      API_RATE_LIMIT: "5",
      API_BURST: "10",
      API_TIMEOUT_SECONDS: "15",
      SHUTDOWN_TIMEOUT_SECONDS: "25",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel-collector.observability.svc:4318",
      OTEL_EXPORTER_OTLP_HEADERS: { secretKeyRef: { name: "otel-headers", key: "headers" } },
      OTEL_SERVICE_NAME: "dt-prod"
    })
    const plain = envOf(only(helm.template(), "Deployment"))
    for (const name of ["API_RATE_LIMIT", "API_BURST", "API_TIMEOUT_SECONDS", "SHUTDOWN_TIMEOUT_SECONDS", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_SERVICE_NAME"]) {
      expect(plain).not.toHaveProperty(name)
    }
  })

  it("sets the egress proxy variables and mounts a CA bundle ConfigMap named by SSL_CERT_FILE; none by default", () => {
    const rendered = only(helm.template({
      set: ["proxy.httpsProxy=http://proxy.corp.example:3128", "proxy.noProxy=.svc\\,10.0.0.0/8", "caBundle.configMapName=corp-ca"]
    }), "Deployment")
    expect(envOf(rendered)).toMatchObject({
      HTTPS_PROXY: "http://proxy.corp.example:3128",
      NO_PROXY: ".svc,10.0.0.0/8",
      SSL_CERT_FILE: "/etc/deployment-tracker/ca/ca.crt"
    })
    expect(envOf(rendered)).not.toHaveProperty("HTTP_PROXY")
    const pod = (rendered["spec"] as { template: { spec: Record<string, unknown> } }).template.spec
    expect(pod["volumes"]).toEqual([{ name: "ca-bundle", configMap: { name: "corp-ca", items: [{ key: "ca.crt", path: "ca.crt" }] } }])
    expect((pod["containers"] as Array<Record<string, unknown>>)[0]!["volumeMounts"]).toEqual([
      { name: "ca-bundle", mountPath: "/etc/deployment-tracker/ca", readOnly: true }
    ])
    const plain = only(helm.template(), "Deployment")
    for (const name of ["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "SSL_CERT_FILE"]) expect(envOf(plain)).not.toHaveProperty(name)
    expect((plain["spec"] as { template: { spec: Record<string, unknown> } }).template.spec).not.toHaveProperty("volumes")
  })

  it("shows outcomes as Events unless config.kubeEvents=false, which turns off the flag and the ClusterRole's events rule", () => {
    const argsOf = (objects: ReadonlyArray<KubeObject>) =>
      (only(objects, "Deployment")["spec"] as { template: { spec: { containers: Array<{ args: Array<string> }> } } }).template.spec.containers[0]!.args
    const eventRules = (objects: ReadonlyArray<KubeObject>) =>
      (only(objects, "ClusterRole")["rules"] as Array<Rule>).filter((r) => r.apiGroups.includes("events.k8s.io"))
    const on = helm.template()
    expect(argsOf(on).filter((a) => a.startsWith("-kube-events"))).toEqual([])
    expect(eventRules(on)).toEqual([{ apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] }])
    const off = helm.template({ set: ["config.kubeEvents=false"] })
    expect(argsOf(off).filter((a) => a.startsWith("-kube-events"))).toEqual(["-kube-events=false"])
    expect(eventRules(off)).toEqual([])
  })

  it("turns leader election on with more than one replica (auto), with a Role for its Lease only", () => {
    const leaderArgs = (objects: ReadonlyArray<KubeObject>) =>
      ((only(objects, "Deployment")["spec"] as { template: { spec: { containers: Array<{ args: Array<string> }> } } }).template.spec.containers[0]!.args)
        .filter((a) => a.startsWith("-leader-elect"))
    // The state Role (state.enabled) is there either way; these are the others.
    const leaseRoles = (objects: ReadonlyArray<KubeObject>) =>
      objects.filter((o) => (o.kind === "Role" || o.kind === "RoleBinding") && !o.metadata.name.endsWith("-state"))
    const roles = (objects: ReadonlyArray<KubeObject>) => leaseRoles(objects).length

    const single = helm.template()
    expect(leaderArgs(single)).toEqual([])
    expect(roles(single)).toBe(0)

    const replicated = helm.template({ set: ["replicaCount=3", "leaderElection.leaseDuration=30s"] })
    expect(leaderArgs(replicated)).toEqual([
      "-leader-elect",
      "-leader-elect-resource-name=deployment-tracker",
      "-leader-elect-lease-duration=30s",
      "-leader-elect-renew-deadline=10s",
      "-leader-elect-retry-period=2s"
    ])
    expect(only(leaseRoles(replicated), "Role")["rules"]).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: ["deployment-tracker"], verbs: ["get", "update"] }
    ])
    expect(only(leaseRoles(replicated), "Role").metadata.namespace).toBe("deployment-tracker")
    expect(only(leaseRoles(replicated), "RoleBinding")["subjects"]).toEqual([{ kind: "ServiceAccount", name: "deployment-tracker", namespace: "deployment-tracker" }])
    // POD_NAMESPACE (downward API) puts the Lease in the release's namespace.
    expect(envOf(only(replicated, "Deployment"))["POD_NAMESPACE"]).toEqual({ fieldRef: { fieldPath: "metadata.namespace" } })

    expect(leaderArgs(helm.template({ set: ["replicaCount=3", "leaderElection.enabled=false"] }))).toEqual([])
    expect(leaderArgs(helm.template({ set: ["leaderElection.enabled=true", "leaderElection.resourceName=dt-lease"] }))).toContain("-leader-elect-resource-name=dt-lease")
    expect(helm.templateError({ set: ["leaderElection.enabled=maybe"] })).toContain("leaderElection.enabled must be auto, true or false")
  })

  it("keeps the deployed state in a ConfigMap with a Role for it alone; state.enabled=false turns both off", () => {
    const stateArgs = (objects: ReadonlyArray<KubeObject>) =>
      ((only(objects, "Deployment")["spec"] as { template: { spec: { containers: Array<{ args: Array<string> }> } } }).template.spec.containers[0]!.args)
        .filter((a) => a.startsWith("-state-configmap"))
    const stateRoles = (objects: ReadonlyArray<KubeObject>) =>
      objects.filter((o) => (o.kind === "Role" || o.kind === "RoleBinding") && o.metadata.name.endsWith("-state"))

    const named = helm.template({ set: ["state.configMapName=dt-memory"] })
    expect(stateArgs(named)).toEqual(["-state-configmap=dt-memory"])
    expect(only(stateRoles(named), "Role")["rules"]).toEqual([
      { apiGroups: [""], resources: ["configmaps"], verbs: ["create"] },
      { apiGroups: [""], resources: ["configmaps"], resourceNames: ["dt-memory"], verbs: ["get", "update"] }
    ])
    expect(only(stateRoles(named), "RoleBinding")["subjects"]).toEqual([{ kind: "ServiceAccount", name: "deployment-tracker", namespace: "deployment-tracker" }])

    const off = helm.template({ set: ["state.enabled=false"] })
    expect(stateArgs(off)).toEqual(["-state-configmap="])
    expect(stateRoles(off)).toEqual([])
  })

  it("refuses contradictory or missing settings at render time", () => {
    expect(helm.templateError({ set: ["config.namespace=a", "config.excludeNamespaces=b"] })).toContain("cannot be used together")
    expect(helm.templateError({ set: ["config.org="] })).toContain("config.org is required")
    expect(helm.templateError({ set: ["auth.apiTokenSecret="] })).toContain("credentials are required for api.github.com")
    expect(helm.templateError({ set: ["auth.apiTokenSecret=", "config.baseUrl=https://API.github.com/"] })).toContain("credentials are required")
    expect(helm.templateError({ set: ["auth.apiTokenSecret=", "config.baseUrl="] })).toContain("credentials are required")
    expect(helm.templateError({ set: ["auth.apiToken=x"] })).toContain("not both")
  })

  it("renders without credentials when config.baseUrl points at a service that adds them (no Authorization from the tracker)", () => {
    const rendered = helm.template({ set: ["auth.apiTokenSecret=", "config.baseUrl=http://github-auth.tools.svc:8080"] })
    const env = envOf(only(rendered, "Deployment"))
    expect(env["BASE_URL"]).toBe("http://github-auth.tools.svc:8080")
    for (const name of ["API_TOKEN", "GH_APP_ID", "GH_INSTALL_ID", "GH_APP_PRIVATE_KEY"]) expect(env).not.toHaveProperty(name)
    expect(rendered.some((o) => o.kind === "Secret")).toBe(false)
  })

  it("renders objects the API server accepts (server-side dry run, strict field validation)", async () => {
    const variants: ReadonlyArray<ReadonlyArray<string>> = [
      [],
      ["replicaCount=2", "service.enabled=true", "auth.apiTokenSecret=", "auth.apiToken=ghp_x", "config.dryRun=true", "tracing.otlpEndpoint=http://collector.svc:4318", "tracing.headersSecret.name=otel", "lifecycle.preStop.sleep.seconds=5"],
      ["auth.apiTokenSecret=", "config.baseUrl=http://github-auth.tools.svc:8080", "proxy.httpsProxy=http://proxy:3128", "proxy.noProxy=.svc", "caBundle.configMapName=corp-ca"]
    ]
    for (const set of variants) {
      const text = helm.templateText({ set, release: "dt-dry-run", namespace: TRACKER_NAMESPACE })
      expect(text.status, text.stderr).toBe(0)
      const result = await kubectlResult(["apply", "--dry-run=server", "--validate=strict", "-f", "-"], { stateDir: inject("clusterDir"), input: text.stdout })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/deployment\.apps\/dt-dry-run-deployment-tracker created \(server dry run\)/)
    }
  })

  // A release of the original's chart (a stand-in written here in its shape:
  // same chart name, object names and selector labels) upgraded in place
  // with this chart, as the README's migration section says.
  it("`helm upgrade` of a release made with the original's chart shape succeeds and rolls out", async () => {
    const namespace = `chart-up-${randomBytes(3).toString("hex")}`
    const release = "dt-up"
    const fullname = `${release}-deployment-tracker`
    const admin = ["--kubeconfig", inject("adminKubeconfig")]
    const originalChart = writeOriginalShapedChart()
    try {
      const installed = helm.run(["install", release, originalChart.dir, ...admin, "--namespace", namespace, "--create-namespace", "--wait", "--timeout", "90s"])
      expect(installed.status, installed.stdout + installed.stderr).toBe(0)
      const before = (await pods(namespace)).map((p) => p.metadata.name)
      expect(before).toHaveLength(1)

      const upgraded = helm.run([
        "upgrade", release, CHART_DIR, ...admin, "--namespace", namespace,
        "--values", MANIFEST_VALUES, "--set", `auth.apiTokenSecret=${fullname}-token`, "--wait", "--timeout", "90s"
      ])
      expect(upgraded.status, upgraded.stdout + upgraded.stderr).toBe(0)
      await kube(["rollout", "status", `deployment/${fullname}`, "-n", namespace, "--timeout=60s"])
      await eventually("only the upgraded pod runs", async () => {
        const now = await pods(namespace)
        expect(now.map((p) => p.metadata.name).filter((name) => before.includes(name))).toEqual([])
        expect(now.filter((p) => p.status.phase === "Running")).toHaveLength(1)
      }, { deadlineMs: 60_000 })
      const deploymentNow = JSON.parse(await kube(["get", "deployment", fullname, "-n", namespace, "-o", "json"])) as {
        spec: { selector: unknown; template: { metadata: { labels: Record<string, string> } } }
      }
      expect(deploymentNow.spec.selector).toEqual({ matchLabels: chartSelector(release) })
      expect(deploymentNow.spec.template.metadata.labels["helm.sh/chart"]).toBe(`deployment-tracker-${packageVersion}`)
      const history = helm.run(["history", release, ...admin, "--namespace", namespace, "-o", "json"])
      expect((JSON.parse(history.stdout) as Array<{ revision: number; status: string }>).map((r) => [r.revision, r.status]))
        .toEqual([[1, "superseded"], [2, "deployed"]])
    } finally {
      helm.run(["uninstall", release, ...admin, "--namespace", namespace, "--ignore-not-found", "--wait", "--timeout", "90s"])
      originalChart.remove()
      await deleteNamespaces([namespace])
    }
  })

  it("installs with replicas 2 (leader election, its Lease Role), runs, and uninstalls", async () => {
    const namespace = `chart-${randomBytes(3).toString("hex")}`
    const release = "dt"
    const fullname = `${release}-deployment-tracker`
    const admin = ["--kubeconfig", inject("adminKubeconfig")]
    try {
      const installed = helm.run([
        "install", release, CHART_DIR, ...admin, "--namespace", namespace, "--create-namespace",
        "--values", MANIFEST_VALUES, "--set", "replicaCount=2", "--set", `auth.apiTokenSecret=${fullname}-token`,
        "--wait", "--timeout", "90s"
      ])
      expect(installed.status, installed.stdout + installed.stderr).toBe(0)
      expect(installed.stdout).toContain(`leader election on Lease ${fullname}`)
      expect(await kube(["get", "deployment", fullname, "-n", namespace])).toMatch(new RegExp(`^${fullname}\\s+2/2\\s`, "m"))
      const sa = `--as=system:serviceaccount:${namespace}:${fullname}`
      const can = async (...args: Array<string>) =>
        (await kubectlResult(["auth", "can-i", ...args, sa], { stateDir: inject("clusterDir") })).stdout.trim()
      expect(await can("create", "leases.coordination.k8s.io", "-n", namespace)).toBe("yes")
      expect(await can("update", `leases.coordination.k8s.io/${fullname}`, "-n", namespace)).toBe("yes")
      expect(await can("get", `leases.coordination.k8s.io/${fullname}`, "-n", namespace)).toBe("yes")
      expect(await can("update", "leases.coordination.k8s.io/another-lease", "-n", namespace)).toBe("no")
      expect(await can("delete", `leases.coordination.k8s.io/${fullname}`, "-n", namespace)).toBe("no")
      expect(await can("create", "leases.coordination.k8s.io", "-n", TRACKER_NAMESPACE)).toBe("no")
      expect(await can("watch", "pods", "--all-namespaces")).toBe("yes")
      expect(await can("create", "events.events.k8s.io", "-n", "default")).toBe("yes")
      expect(await can("patch", "events.events.k8s.io", "-n", namespace)).toBe("yes")
      expect(await can("list", "secrets", "-n", namespace)).toBe("no")

      const uninstalled = helm.run(["uninstall", release, ...admin, "--namespace", namespace, "--wait", "--timeout", "90s"])
      expect(uninstalled.status, uninstalled.stderr).toBe(0)
      const left = await kubectlResult(["get", `clusterrole/${fullname}`, `clusterrolebinding/${fullname}`], { stateDir: inject("clusterDir") })
      expect(left.stderr).toMatch(/not found/)
      expect(left.stdout.trim()).toBe("")
    } finally {
      helm.run(["uninstall", release, ...admin, "--namespace", namespace, "--ignore-not-found"])
      await deleteNamespaces([namespace])
    }
  })
})

describe("the Dockerfile's runtime image, reproduced without Docker (scripts/package/imageContents.ts)", () => {
  let image: StagedImage
  beforeAll(() => {
    image = stageImage()
  })
  afterAll(() => image?.cleanup())

  it("holds dist/, package.json, the lockfile and exactly the production dependencies", () => {
    expect(contentProblems(image.appDir)).toEqual([])
    expect(readFileSync(`${image.appDir}/dist/main.js`, "utf8")).toBe(readFileSync(new URL("../../dist/main.js", import.meta.url), "utf8"))
  })

  it("runs read-only as the non-root image user without capabilities, and --help works there", () => {
    const probe = runSandboxed(image, [
      "-e",
      [
        "const fs = require('node:fs')",
        "const status = fs.readFileSync('/proc/self/status', 'utf8')",
        "const field = (name) => new RegExp(name + ':\\\\s*(\\\\S+)').exec(status)[1]",
        "const writable = (path) => { try { fs.writeFileSync(path, 'x'); return true } catch (e) { return e.code } }",
        "console.log(JSON.stringify({ uid: process.getuid(), capEff: field('CapEff'), noNewPrivs: field('NoNewPrivs'), workdir: writable('probe'), tmp: writable('/tmp/dt-probe') }))"
      ].join("\n")
    ])
    expect(probe.status, probe.stderr).toBe(0)
    const seen = JSON.parse(probe.stdout) as Record<string, unknown>
    expect(seen).toEqual(process.getuid?.() === 0
      ? { uid: RUNTIME_UID, capEff: "0000000000000000", noNewPrivs: "1", workdir: "EROFS", tmp: "EROFS" }
      : { uid: 0, capEff: expect.any(String), noNewPrivs: "0", workdir: "EROFS", tmp: "EROFS" })

    const help = runSandboxed(image, ["dist/main.js", "--help"])
    expect(help.status, help.stderr).toBe(0)
    for (const flag of ["-kubeconfig", "-metrics-port", "-leader-elect", "GITHUB_ORG"]) expect(help.stdout).toContain(flag)
  })

  it("in-cluster as the manifest's ServiceAccount (its token and CA where a pod has them, KUBERNETES_SERVICE_HOST/PORT, no kubeconfig): the pod cache syncs, /readyz answers, records are posted, SIGTERM exits 0", async () => {
    const s = useScenario("image")
    const ns = await s.namespace("image")
    const [metricsPort] = await freePorts(1)
    // The token of the tracker's ServiceAccount kubeconfig (a TokenRequest token) and the cluster's CA.
    const inCluster = inClusterForImage(inject("trackerKubeconfig"), TRACKER_NAMESPACE)
    const tracker = startImageTracker(image, {
      kube: { inCluster },
      metricsPort: metricsPort!,
      args: ["-namespace", ns],
      env: {
        GITHUB_ORG: s.org,
        LOGICAL_ENVIRONMENT: s.logicalEnvironment,
        CLUSTER: s.cluster,
        BASE_URL: inject("githubUrl"),
        API_TOKEN: GITHUB_TOKEN,
        BULK_CLUSTER_SYNC: "false",
        API_RATE_LIMIT: "0",
        NODE_OPTIONS: String(envOf(only(manifestObjects(), "Deployment"))["NODE_OPTIONS"])
      }
    })
    try {
      await tracker.waitReady(60_000)
      await apply(deployment(ns, "web", { replicas: 1, containers: [{ name: "app", image: "ghcr.io/octo-e2e/image-web:1.0" }] }))
      const expected = await runningDigests(ns, "web", "app=web", { count: 1 })
      await recordsLand(s, expected, "deployed")
      await s.expectNoViolations()
      // It ran on the service account, not on some kubeconfig it found.
      const starting = tracker.output().find((line) => line.includes("Starting deployment-tracker"))
      expect(JSON.parse(starting ?? "{}")).toMatchObject({ kube_credentials: "in-cluster config" })
    } finally {
      const code = await tracker.stop(30_000)
      inCluster.cleanup()
      expect(code, tracker.output().slice(-20).join("\n")).toBe(0)
    }
  })
})
