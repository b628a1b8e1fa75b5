// What the API server stand-in counts, and the summary it reports on its
// control port. Owner GETs are counted per path: the controller should
// read each ReplicaSet at most once (and none at all once it can answer
// Deployment pods from its caches).

const bump = (map: Record<string, number>, key: string, by = 1) => {
  map[key] = (map[key] ?? 0) + by
}

const OWNER_PATH = /^\/apis\/(?:apps|batch)\/v1\/namespaces\/[^/]+\/([a-z]+)\/[^/]+$/

export class ApiCounters {
  readonly requests: Record<string, number> = {}
  readonly watches: Record<string, number> = {}
  readonly podList = { lists: 0, pages: 0, items: 0, expired: 0 }
  readonly configMaps = { get: 0, notFound: 0, create: 0, update: 0, conflict: 0 }
  readonly otherWrites: Record<string, number> = {}
  readonly unknown: Record<string, number> = {}
  readonly bytes = { list: 0, watch: 0 }
  readonly #objectGets = new Map<string, number>()
  podEventsWritten = 0
  /** The newest pod event resourceVersion written to any watch. */
  lastPodVersionWritten = 0

  request(route: string): void {
    bump(this.requests, route)
  }

  watch(kind: string): void {
    bump(this.watches, kind)
  }

  objectGet(path: string): void {
    this.#objectGets.set(path, (this.#objectGets.get(path) ?? 0) + 1)
  }

  otherWrite(route: string): void {
    bump(this.otherWrites, route)
  }

  /** Unknown paths: counted, and the first few of each logged so gaps in the stand-in show. */
  unknownPath(route: string): void {
    bump(this.unknown, route)
    if (this.unknown[route]! <= 3) process.stderr.write(`api-stand-in: no such path: ${route}\n`)
  }

  summary() {
    const ownerGets: Record<string, { paths: number; gets: number; maxPerObject: number }> = {}
    for (const [path, count] of this.#objectGets) {
      const plural = OWNER_PATH.exec(path)?.[1] ?? "other"
      const entry = ownerGets[plural] ?? (ownerGets[plural] = { paths: 0, gets: 0, maxPerObject: 0 })
      entry.paths++
      entry.gets += count
      entry.maxPerObject = Math.max(entry.maxPerObject, count)
    }
    const total = Object.values(ownerGets).reduce((sum, e) => sum + e.gets, 0)
    return {
      requests: this.requests,
      watches: this.watches,
      podList: this.podList,
      ownerGets: { total, byKind: ownerGets },
      configMaps: this.configMaps,
      otherWrites: this.otherWrites,
      unknown: this.unknown,
      bytes: this.bytes,
      podEventsWritten: this.podEventsWritten
    }
  }
}

export type ApiCountersSummary = ReturnType<ApiCounters["summary"]>
