// The Kubernetes API server stand-in of the process benchmark, run as its
// own process (node apiServer.ts --pods N --tls-dir DIR ...). Serves over
// HTTPS what the tracker reads and writes:
// - pods (`/api/v1/pods`, or one namespace's): paginated LIST as one
//   consistent snapshot, WATCH with bookmarks and backpressure, and the
//   streaming list (sendInitialEvents; `--no-watch-list` answers it 422 as a
//   server with the WatchList gate off does);
// - Deployments (and empty DaemonSets, StatefulSets, Jobs, CronJobs) in the
//   metadata-only form (PartialObjectMetadata[List]) or in full;
// - GETs of one ReplicaSet or Deployment (counted per path);
// - ConfigMaps (the tracker's state ConfigMap: GET, POST, PUT with
//   resourceVersion); any other write is answered 201 and counted; any
//   other GET is 404 with a Status, logged to stderr.
// A plain-HTTP control port on 127.0.0.1 reports counters and starts bursts
// of pod events (see control routes below). Prints
// `{"apiPort":…,"controlPort":…}` on stdout once listening; exits when its
// stdin closes (the benchmark ended, even by crashing).
import { readFileSync } from "node:fs"
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo } from "node:net"
import { parseArgs } from "node:util"
import { ApiCounters } from "./apiCounters.ts"
import {
  bookmarkLine,
  deploymentObject,
  type Form,
  listBody,
  negotiateForm,
  replicaSetObject,
  status,
  watchLine,
  type WorkloadObject
} from "./apiObjects.ts"
import { type Deployment, PodCatalog } from "./podCatalog.ts"
import { PodStore, ResourceVersionClock } from "./podStore.ts"
import { drained, serveWatch } from "./watchWriter.ts"

const { values: args } = parseArgs({
  options: {
    pods: { type: "string", default: "10000" },
    replicas: { type: "string", default: "100" },
    namespaces: { type: "string", default: "50" },
    "bookmark-seconds": { type: "string", default: "10" },
    // Pod events the watch history keeps (the watch cache's window); older resourceVersions get 410.
    history: { type: "string", default: "200000" },
    "no-watch-list": { type: "boolean", default: false },
    "tls-dir": { type: "string" }
  }
})

const catalog = new PodCatalog({
  pods: Number(args.pods),
  replicas: Number(args.replicas),
  namespaces: Number(args.namespaces)
})
const clock = new ResourceVersionClock(1000)
const pods = new PodStore(catalog.pods, clock, Number(args.history))
const watchListEnabled = !args["no-watch-list"]
const bookmarkMillis = Number(args["bookmark-seconds"]) * 1000
const counters = new ApiCounters()

/** Workload objects do not change in this benchmark: one resourceVersion each, from creation. */
const workloadVersion = new Map<Deployment, number>(catalog.deployments.map((d) => [d, clock.next()]))

// ---- request plumbing

const sendJson = (res: ServerResponse, code: number, body: unknown) => {
  const text = typeof body === "string" ? body : JSON.stringify(body)
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  res.end(text)
}

const sendStatus = (res: ServerResponse, code: number, reason: string, message: string) =>
  sendJson(res, code, status(code, reason, message))

const readBody = async (req: IncomingMessage): Promise<string> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString("utf8")
}

/** Writes `prefix`, the items (with backpressure: a list of every pod at once is far above V8's string limit), `suffix`. */
const writeStreamed = async (res: ServerResponse, prefix: string, items: Iterable<string>, suffix: string) => {
  res.writeHead(200, { "content-type": "application/json" })
  let chunk = prefix
  let first = true
  for (const item of items) {
    chunk += first ? item : `,${item}`
    first = false
    if (chunk.length >= 256 * 1024) {
      counters.bytes.list += chunk.length
      if (!res.write(chunk)) await drained(res)
      chunk = ""
      if (res.destroyed) return
    }
  }
  chunk += suffix
  counters.bytes.list += chunk.length
  res.end(chunk)
}

// ---- namespace scoping: a namespaced path, or metadata.namespace in a field selector

type NamespaceFilter = (namespace: string) => boolean

const namespaceFilter = (pathNamespace: string | undefined, fieldSelector: string | undefined): NamespaceFilter => {
  const tests: Array<NamespaceFilter> = []
  if (pathNamespace !== undefined) tests.push((ns) => ns === pathNamespace)
  for (const term of (fieldSelector ?? "").split(",").filter((t) => t !== "")) {
    const match = /^metadata\.namespace(!=|==|=)(.*)$/.exec(term)
    if (match === null) {
      process.stderr.write(`api-stand-in: field selector term ignored: ${term}\n`)
      continue
    }
    const [, op, value] = match
    tests.push(op === "!=" ? (ns) => ns !== value : (ns) => ns === value)
  }
  return (ns) => tests.every((test) => test(ns))
}

// ---- continue tokens: the snapshot's resourceVersion and where the next page starts

const encodeContinue = (resourceVersion: number, next: number) =>
  Buffer.from(JSON.stringify({ rv: resourceVersion, next })).toString("base64url")

const decodeContinue = (token: string): { rv: number; next: number } | undefined => {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { rv?: unknown; next?: unknown }
    return typeof parsed.rv === "number" && typeof parsed.next === "number" ? { rv: parsed.rv, next: parsed.next } : undefined
  } catch {
    return undefined
  }
}

// ---- collections

interface Collection {
  readonly plural: string
  readonly listKind: string
  readonly kind: string
  readonly apiVersion: string
  /** Number of items (by index). */
  readonly size: number
  readonly namespaceOf: (index: number) => string
  /** The item's JSON at a snapshot resourceVersion, in a form. */
  readonly render: (index: number, resourceVersion: number, form: Form) => string
  /** Pods only: the event history. */
  readonly store?: PodStore
  /** Whether the metadata form is served (workloads); pods are always full. */
  readonly metadataForm: boolean
}

const podCollection: Collection = {
  plural: "pods",
  listKind: "PodList",
  kind: "Pod",
  apiVersion: "v1",
  size: catalog.pods,
  namespaceOf: (i) => catalog.namespaceOfPod(i),
  render: (i, rv) => catalog.renderPod(i, pods.at(i, rv)),
  store: pods,
  metadataForm: false
}

const workloadCollection = (
  apiVersion: string,
  plural: string,
  kind: string,
  items: ReadonlyArray<Deployment>,
  object: WorkloadObject
): Collection => ({
  plural,
  listKind: `${kind}List`,
  kind,
  apiVersion,
  size: items.length,
  namespaceOf: (i) => items[i]!.namespace,
  render: (i, _rv, form) => JSON.stringify(object(items[i]!, workloadVersion.get(items[i]!)!, form, catalog.replicas)),
  metadataForm: true
})

/** Namespaces `team-0..` (cluster-scoped; a real API server has every pod's Namespace). */
const namespaceNames = Array.from({ length: Number(args.namespaces) }, (_, i) => `team-${i}`)
const namespaceCollection: Collection = {
  plural: "namespaces",
  listKind: "NamespaceList",
  kind: "Namespace",
  apiVersion: "v1",
  size: namespaceNames.length,
  namespaceOf: (i) => namespaceNames[i]!,
  render: (i, _rv, form) => {
    const name = namespaceNames[i]!
    const metadata = { name, uid: `ns-uid-${i}`, resourceVersion: "1", labels: { "kubernetes.io/metadata.name": name } }
    return JSON.stringify(
      form === "metadata"
        ? { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata }
        : { kind: "Namespace", apiVersion: "v1", metadata, spec: { finalizers: ["kubernetes"] }, status: { phase: "Active" } }
    )
  },
  metadataForm: true
}

const COLLECTIONS = new Map<string, Collection>([
  ["/api/v1/pods", podCollection],
  ["/api/v1/namespaces", namespaceCollection],
  ["/apis/apps/v1/deployments", workloadCollection("apps/v1", "deployments", "Deployment", catalog.deployments, deploymentObject)],
  ["/apis/apps/v1/replicasets", workloadCollection("apps/v1", "replicasets", "ReplicaSet", catalog.deployments, replicaSetObject)],
  ["/apis/apps/v1/daemonsets", workloadCollection("apps/v1", "daemonsets", "DaemonSet", [], deploymentObject)],
  ["/apis/apps/v1/statefulsets", workloadCollection("apps/v1", "statefulsets", "StatefulSet", [], deploymentObject)],
  ["/apis/batch/v1/jobs", workloadCollection("batch/v1", "jobs", "Job", [], deploymentObject)],
  ["/apis/batch/v1/cronjobs", workloadCollection("batch/v1", "cronjobs", "CronJob", [], deploymentObject)]
])

/** `/api/v1/pods` or `/api/v1/namespaces/x/pods` -> the collection and the namespace. */
const COLLECTION_PATH = /^\/(api\/v1|apis\/(?:apps|batch)\/v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)$/

const handleList = async (
  res: ServerResponse,
  query: URLSearchParams,
  collection: Collection,
  filter: NamespaceFilter,
  form: Form
) => {
  const isPods = collection.store !== undefined
  const token = query.get("continue")
  let snapshot = clock.current
  let start = 0
  if (token !== null && token !== "") {
    const decoded = decodeContinue(token)
    if (decoded === undefined) return sendStatus(res, 400, "BadRequest", "invalid continue token")
    if (isPods && decoded.rv < pods.compactedVersion) {
      counters.podList.expired++
      return sendStatus(
        res,
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
      )
    }
    snapshot = decoded.rv
    start = decoded.next
  } else if (isPods) {
    counters.podList.lists++
  }
  const limit = Number(query.get("limit") ?? "0")
  const metadata = form === "metadata" && collection.metadataForm
  const [kind, apiVersion] = metadata ? ["PartialObjectMetadataList", "meta.k8s.io/v1"] : [collection.listKind, collection.apiVersion]
  let next = start
  let rendered = 0
  // Lazily rendered, so a list without a limit streams instead of piling up.
  function* render(wanted: number) {
    for (; next < collection.size && rendered < wanted; next++) {
      if (!filter(collection.namespaceOf(next))) continue
      rendered++
      yield collection.render(next, snapshot, form)
    }
  }
  if (limit > 0) {
    // A page: small, built whole (its envelope carries the continue token, known only at the end).
    const page = [...render(limit)]
    const more = hasMore(collection, filter, next)
    const body = listBody(kind, apiVersion, snapshot, page, more ? encodeContinue(snapshot, next) : undefined, metadata)
    counters.bytes.list += body.length
    sendJson(res, 200, body)
  } else if (metadata && !hasMore(collection, filter, start)) {
    // An empty metadata list, `items: null`.
    sendJson(res, 200, listBody(kind, apiVersion, snapshot, [], undefined, true))
  } else {
    const head = `{"kind":"${kind}","apiVersion":"${apiVersion}","metadata":{"resourceVersion":"${snapshot}"},"items":[`
    await writeStreamed(res, head, render(Number.POSITIVE_INFINITY), "]}")
  }
  if (isPods) {
    counters.podList.pages++
    counters.podList.items += rendered
  }
}

const hasMore = (collection: Collection, filter: NamespaceFilter, from: number) => {
  for (let i = from; i < collection.size; i++) if (filter(collection.namespaceOf(i))) return true
  return false
}

const handleWatch = async (
  res: ServerResponse,
  query: URLSearchParams,
  collection: Collection,
  filter: NamespaceFilter,
  form: Form
) => {
  const sendInitialEvents = query.get("sendInitialEvents") === "true"
  const match = query.get("resourceVersionMatch")
  const name = collection.plural
  if (sendInitialEvents && !watchListEnabled) {
    counters.watch(`${name} watch-list refused`)
    return sendStatus(res, 422, "Invalid", "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled")
  }
  if (sendInitialEvents && match !== "NotOlderThan") {
    return sendStatus(res, 422, "Invalid", "sendInitialEvents requires resourceVersionMatch=NotOlderThan")
  }
  if (!sendInitialEvents && match !== null && match !== "") {
    return sendStatus(res, 422, "Invalid", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
  }
  const bookmarks = query.get("allowWatchBookmarks") === "true"
  const timeoutSeconds = Number(query.get("timeoutSeconds") ?? 1800 + Math.random() * 1800)
  const requested = query.get("resourceVersion") ?? ""
  const fromNow = requested === "" || requested === "0"
  const metadata = form === "metadata" && collection.metadataForm
  const [bookmarkKind, bookmarkVersion] = metadata ? ["PartialObjectMetadata", "meta.k8s.io/v1"] : [collection.kind, collection.apiVersion]
  const expiredLine = watchLine("ERROR", JSON.stringify(status(410, "Expired", `too old resource version: ${requested}`)))

  let initialLines: Iterable<string> = []
  let startVersion: number
  if (sendInitialEvents || fromNow) {
    // A streaming list (or a watch from "now", which with the gate on is one): every object as ADDED, then the end mark.
    counters.watch(`${name} ${sendInitialEvents ? "watch-list" : "from now"}`)
    const snapshot = clock.current
    startVersion = snapshot
    const endMark = bookmarks && (sendInitialEvents || watchListEnabled)
    initialLines = (function*() {
      for (let i = 0; i < collection.size; i++) {
        if (filter(collection.namespaceOf(i))) yield watchLine("ADDED", collection.render(i, snapshot, form))
      }
      if (endMark) yield bookmarkLine(bookmarkKind, bookmarkVersion, snapshot, true)
    })()
  } else {
    counters.watch(`${name} watch`)
    startVersion = Number(requested)
    if (!Number.isFinite(startVersion)) return sendStatus(res, 400, "BadRequest", `invalid resourceVersion ${requested}`)
  }
  const store = collection.store
  const position = store?.firstEventAfter(startVersion)
  if (store !== undefined && position === undefined) {
    // Too old: the server says so inside a 200 watch, and the client relists.
    counters.watch(`${name} expired`)
    res.writeHead(200, { "content-type": "application/json" })
    return res.end(expiredLine)
  }
  await serveWatch(res, {
    initialLines,
    ...(store !== undefined && position !== undefined
      ? {
        events: {
          store,
          position,
          render: (event) =>
            filter(catalog.namespaceOfPod(event.index)) ? watchLine(event.type, catalog.renderPod(event.index, event.version)) : undefined,
          written: (event) => {
            counters.podEventsWritten++
            counters.lastPodVersionWritten = Math.max(counters.lastPodVersionWritten, event.version.resourceVersion)
          }
        }
      }
      : {}),
    bookmark: bookmarks ? () => bookmarkLine(bookmarkKind, bookmarkVersion, clock.current) : undefined,
    bookmarkMillis,
    timeoutSeconds,
    expiredLine,
    countBytes: (bytes) => (counters.bytes.watch += bytes)
  })
}

const OBJECT_PATH = /^\/apis\/(?:apps|batch)\/v1\/namespaces\/([^/]+)\/([a-z]+)\/([^/]+)$/

const handleObjectGet = (res: ServerResponse, path: string, accept: string | undefined) => {
  const [, namespace, plural, name] = OBJECT_PATH.exec(path)!
  counters.request(`GET ${plural}/{name}`)
  counters.objectGet(path)
  const form = negotiateForm(accept, false)
  if (form === undefined) return sendStatus(res, 406, "NotAcceptable", "the requested form is not served")
  const ns = decodeURIComponent(namespace!)
  const objectName = decodeURIComponent(name!)
  const deployment = plural === "replicasets"
    ? catalog.replicaSet(ns, objectName)
    : plural === "deployments"
    ? catalog.deployment(ns, objectName)
    : undefined
  if (deployment === undefined) return sendStatus(res, 404, "NotFound", `${plural} "${objectName}" not found`)
  const object = plural === "replicasets" ? replicaSetObject : deploymentObject
  return sendJson(res, 200, object(deployment, workloadVersion.get(deployment)!, form, catalog.replicas))
}

// ---- ConfigMaps (the tracker's state)

interface StoredConfigMap {
  metadata: Record<string, unknown> & { resourceVersion: string }
  data: Record<string, string>
}
const configMaps = new Map<string, StoredConfigMap>()
const CONFIGMAP_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps(?:\/([^/]+))?$/

const handleConfigMap = async (req: IncomingMessage, res: ServerResponse, path: string) => {
  const [, namespace, name] = CONFIGMAP_PATH.exec(path)!
  const key = `${namespace}/${name ?? ""}`
  counters.request(`${req.method} configmaps${name === undefined ? "" : "/{name}"}`)
  const asObject = (stored: StoredConfigMap) => ({ apiVersion: "v1", kind: "ConfigMap", ...stored })
  if (req.method === "GET" && name !== undefined) {
    counters.configMaps.get++
    const stored = configMaps.get(key)
    if (stored === undefined) {
      counters.configMaps.notFound++
      return sendStatus(res, 404, "NotFound", `configmaps "${name}" not found`)
    }
    return sendJson(res, 200, asObject(stored))
  }
  const body = JSON.parse(await readBody(req)) as { metadata?: Record<string, unknown>; data?: Record<string, string> }
  const objectName = String(body.metadata?.["name"] ?? name)
  if (req.method === "POST" && name === undefined) {
    const createKey = `${namespace}/${objectName}`
    if (configMaps.has(createKey)) {
      counters.configMaps.conflict++
      return sendStatus(res, 409, "AlreadyExists", `configmaps "${objectName}" already exists`)
    }
    counters.configMaps.create++
    const stored = { metadata: { ...body.metadata, resourceVersion: String(clock.next()) }, data: body.data ?? {} }
    configMaps.set(createKey, stored)
    return sendJson(res, 201, asObject(stored))
  }
  if (req.method === "PUT" && name !== undefined) {
    const current = configMaps.get(key)
    if (current === undefined) return sendStatus(res, 404, "NotFound", `configmaps "${name}" not found`)
    if (body.metadata?.["resourceVersion"] !== current.metadata.resourceVersion) {
      counters.configMaps.conflict++
      return sendStatus(res, 409, "Conflict", "the object has been modified; please apply your changes to the latest version and try again")
    }
    counters.configMaps.update++
    const stored = { metadata: { ...body.metadata, resourceVersion: String(clock.next()) }, data: body.data ?? {} }
    configMaps.set(key, stored)
    return sendJson(res, 200, asObject(stored))
  }
  return sendStatus(res, 405, "MethodNotAllowed", `${req.method} is not supported here`)
}

// ---- the API server

const handle = async (req: IncomingMessage, res: ServerResponse) => {
  const url = new URL(req.url ?? "/", "https://stand-in")
  const path = url.pathname
  const method = req.method ?? "GET"
  if (CONFIGMAP_PATH.test(path)) return handleConfigMap(req, res, path)
  if (method === "GET") {
    const collectionMatch = COLLECTION_PATH.exec(path)
    const collection = collectionMatch === null
      ? undefined
      : COLLECTIONS.get(`/${collectionMatch[1]}/${collectionMatch[3]}`)
    if (collection !== undefined) {
      const watching = url.searchParams.get("watch") === "1" || url.searchParams.get("watch") === "true"
      counters.request(`GET ${collection.plural} ${watching ? "watch" : "list"}`)
      const form = negotiateForm(req.headers.accept, !watching)
      if (form === undefined) {
        return sendStatus(res, 406, "NotAcceptable", "only application/json and the metadata forms are served")
      }
      const filter = namespaceFilter(
        collectionMatch![2] === undefined ? undefined : decodeURIComponent(collectionMatch![2]),
        url.searchParams.get("fieldSelector") ?? undefined
      )
      return watching
        ? handleWatch(res, url.searchParams, collection, filter, form)
        : handleList(res, url.searchParams, collection, filter, form)
    }
    if (OBJECT_PATH.test(path)) return handleObjectGet(res, path, req.headers.accept)
    counters.unknownPath(`GET ${path}`)
    return sendStatus(res, 404, "NotFound", `the server could not find the requested resource (${path})`)
  }
  // Anything else written (e.g. events.k8s.io Events): accepted and counted.
  const body = await readBody(req)
  counters.otherWrite(`${method} ${path.replace(/\/namespaces\/[^/]+\//, "/namespaces/{ns}/")}`)
  return sendJson(res, 201, body === "" ? "{}" : body)
}

const tlsDir = args["tls-dir"]
if (tlsDir === undefined) throw new Error("--tls-dir is required (server.crt, server.key)")
const api = createHttpsServer({
  cert: readFileSync(`${tlsDir}/server.crt`),
  key: readFileSync(`${tlsDir}/server.key`)
}, (req, res) => {
  handle(req, res).catch((error: unknown) => {
    process.stderr.write(`api-stand-in: ${req.method} ${req.url} failed: ${String(error)}\n`)
    if (!res.headersSent) sendStatus(res, 500, "InternalError", String(error))
    else res.destroy()
  })
})
// Watches last many minutes; the tracker's own deadlines apply.
api.requestTimeout = 0
api.keepAliveTimeout = 60_000

// ---- control port (plain HTTP, loopback): counters and bursts

interface Burst {
  readonly variant: "status" | "rollout"
  readonly events: number
  readonly firstVersion: number
  readonly lastVersion: number
  readonly startedAt: number
}
let burst: Burst | undefined
let burstCursor = 0

/**
 * Appends `events` MODIFIED pod events at once, cycling over the pods; the
 * watches deliver them as fast as the tracker reads (backpressure). The
 * "status" variant moves the Ready condition's lastTransitionTime; "rollout"
 * changes every image digest of the pod.
 */
const startBurst = (events: number, variant: Burst["variant"]): Burst => {
  let firstVersion = 0
  for (let n = 0; n < events; n++) {
    const index = (burstCursor + n) % catalog.pods
    const event = pods.modify(index, (current) =>
      variant === "rollout"
        ? { readyTick: current.readyTick, imageGeneration: current.imageGeneration + 1 }
        : { readyTick: current.readyTick + 1, imageGeneration: current.imageGeneration })
    if (n === 0) firstVersion = event.version.resourceVersion
  }
  burstCursor = (burstCursor + events) % catalog.pods
  burst = { variant, events, firstVersion, lastVersion: pods.latestEventVersion, startedAt: Date.now() }
  pods.notify()
  return burst
}

const burstProgress = () =>
  burst === undefined ? undefined : {
    ...burst,
    delivered: counters.lastPodVersionWritten >= burst.lastVersion,
    lastVersionWritten: counters.lastPodVersionWritten
  }

const control = createHttpServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://control")
  if (req.method === "GET" && url.pathname === "/counters") {
    return sendJson(res, 200, { ...counters.summary(), burst: burstProgress(), resourceVersion: clock.current })
  }
  if (req.method === "POST" && url.pathname === "/burst") {
    const variant = url.searchParams.get("variant") === "rollout" ? "rollout" : "status"
    return sendJson(res, 200, startBurst(Number(url.searchParams.get("events") ?? 50_000), variant))
  }
  if (req.method === "GET" && url.pathname === "/burst") return sendJson(res, 200, burstProgress() ?? {})
  return sendStatus(res, 404, "NotFound", "control routes: GET /counters, POST /burst?events=N&variant=status|rollout, GET /burst")
})

const listening = (server: { listen: (port: number, host: string, cb: () => void) => unknown; address: () => unknown }) =>
  new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)))

const [apiPort, controlPort] = await Promise.all([listening(api), listening(control)])
process.stdout.write(`${JSON.stringify({ apiPort, controlPort, pods: catalog.pods, deployments: catalog.deployments.length })}\n`)
process.stdin.on("end", () => process.exit(0))
process.stdin.resume()
process.on("SIGTERM", () => process.exit(0))
