import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { pinnedVersions } from "../../scripts/cluster/build.ts"
import { writeKubeconfig } from "../../scripts/cluster/pki.ts"
import { freePorts } from "../../scripts/cluster/processes.ts"
import {
  COMPLETE_AFTER_ANNOTATION,
  DIGEST_ANNOTATION_PREFIX,
  READY_AFTER_ANNOTATION,
  stageFiles
} from "../../scripts/cluster/stages.ts"

// Checks of the local control plane's committed inputs that need no cluster
// and no Go build (the cluster itself is exercised by scripts/cluster/selftest.ts
// and the e2e tests).

const goDir = new URL("../../scripts/cluster/go/", import.meta.url)
const read = (rel: string) => readFileSync(new URL(rel, goDir), "utf8")

describe("cluster builder modules", () => {
  it("pins one Kubernetes release with every staging module replaced at the matching v0 version", () => {
    const { kubernetes, etcd, kwok } = pinnedVersions()
    expect(kubernetes).toMatch(/^v1\.\d+\.\d+$/)
    expect(etcd).toMatch(/^v3\.\d+\.\d+$/)
    expect(kwok).toMatch(/^v0\.\d+\.\d+$/)
    const staging = `v0.${kubernetes.slice(3)}` // v1.37.2 -> v0.37.2
    const goMod = read("k8s/go.mod")
    const replaces = [...goMod.matchAll(/^replace (k8s\.io\/\S+) => (k8s\.io\/\S+) (v\S+)$/gm)]
    expect(replaces.length).toBe(33)
    for (const [, from, to, version] of replaces) {
      expect(to).toBe(from)
      expect(version).toBe(staging)
    }
    expect(goMod).toMatch(/^go 1\.26\.\d+$/m)
    expect(goMod).not.toMatch(/^toolchain /m)
  })

  it("declares the built commands as tools, each module with a go.sum", () => {
    expect(read("k8s/go.mod")).toMatch(/k8s\.io\/kubernetes\/cmd\/kube-apiserver/)
    expect(read("etcd/go.mod")).toMatch(/^tool go\.etcd\.io\/etcd\/server\/v3$/m)
    expect(read("kwok/go.mod")).toMatch(/^tool sigs\.k8s\.io\/kwok\/cmd\/kwok$/m)
    for (const m of ["k8s", "etcd", "kwok"]) expect(read(`${m}/go.sum`).length).toBeGreaterThan(0)
    expect(read("pki/go.mod")).not.toMatch(/^require/m)
  })
})

describe("cluster kwok stages", () => {
  const stages = stageFiles().map((f) => ({ file: f, text: readFileSync(f, "utf8") }))

  it("are our own Stage objects with distinct names", () => {
    expect(stages.length).toBeGreaterThanOrEqual(5)
    const names = stages.map((s) => /^  name: (\S+)$/m.exec(s.text)?.[1])
    for (const s of stages) expect(s.text).toMatch(/^kind: Stage$/m)
    expect(new Set(names).size).toBe(stages.length)
    expect(names.every((n) => n?.startsWith("dt-"))).toBe(true)
  })

  it("write imageID into containerStatuses and initContainerStatuses when pods run and when Job pods complete", () => {
    for (const name of ["pod-ready.yaml", "pod-complete.yaml"]) {
      const text = stages.find((s) => s.file.endsWith(name))?.text ?? ""
      expect(text).toContain("containerStatuses:")
      expect(text).toContain("initContainerStatuses:")
      expect(text.match(/imageID: \{\{ printf "docker-pullable:\/\/%s@sha256:%s"/g)?.length).toBe(2)
      expect(text).toContain(`printf "${DIGEST_ANNOTATION_PREFIX}%s"`)
    }
    const all = stages.map((s) => s.text).join("\n")
    expect(all).toContain(READY_AFTER_ANNOTATION)
    expect(all).toContain(COMPLETE_AFTER_ANNOTATION)
  })

  it("are listed in the stages directory only as YAML", () => {
    const dir = new URL("../../scripts/cluster/stages/", import.meta.url)
    expect(readdirSync(dir).filter((f) => f.endsWith(".yaml")).length).toBe(stages.length)
  })
})

describe("cluster helpers", () => {
  it("finds distinct free loopback ports", async () => {
    const ports = await freePorts(5)
    expect(new Set(ports).size).toBe(5)
    for (const p of ports) expect(p).toBeGreaterThan(0)
  })

  it("writes a kubeconfig with embedded CA and token", () => {
    const dir = mkdtempSync(join(tmpdir(), "dt-kubeconfig-"))
    try {
      writeFileSync(join(dir, "ca.crt"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
      const path = join(dir, "kubeconfig")
      writeKubeconfig(path, {
        server: "https://127.0.0.1:6443",
        caCert: join(dir, "ca.crt"),
        userName: "system:serviceaccount:ns:sa",
        user: { kind: "token", token: "abc.def" },
        namespace: "ns"
      })
      const text = readFileSync(path, "utf8")
      expect(text).toContain("server: https://127.0.0.1:6443")
      expect(text).toContain(`certificate-authority-data: ${Buffer.from(readFileSync(join(dir, "ca.crt"))).toString("base64")}`)
      expect(text).toContain('token: "abc.def"')
      expect(text).toContain("namespace: ns")
      expect(text).toContain("current-context: deployment-tracker")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
