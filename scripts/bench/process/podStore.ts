// The stand-in's pods over time: each pod's current version, the older
// versions a consistent list snapshot may still need, and the event log a
// watch replays from its resourceVersion. The log is bounded (like the API
// server's watch cache): a watch or continue token older than what it keeps
// gets 410 Expired.
import type { PodVersion } from "./podCatalog.ts"

export interface PodEvent {
  readonly type: "MODIFIED"
  readonly index: number
  readonly version: PodVersion
}

/** One counter for every object, like etcd's revision. */
export class ResourceVersionClock {
  #current: number
  constructor(start: number) {
    this.#current = start
  }
  get current(): number {
    return this.#current
  }
  next(): number {
    return ++this.#current
  }
}

export class PodStore {
  readonly #clock: ResourceVersionClock
  /** Per pod, its versions oldest first; the last is the current one. */
  readonly #versions: Array<Array<PodVersion>>
  readonly #log: Array<PodEvent> = []
  /** Events before this index of #log were dropped. */
  readonly #capacity: number
  #compactedVersion: number
  readonly #listeners = new Set<() => void>()

  constructor(pods: number, clock: ResourceVersionClock, capacity: number) {
    this.#clock = clock
    this.#capacity = capacity
    this.#versions = Array.from({ length: pods }, () => [{ resourceVersion: clock.next(), readyTick: 0, imageGeneration: 0 }])
    this.#compactedVersion = clock.current
  }

  get size(): number {
    return this.#versions.length
  }

  /** The oldest resourceVersion a watch or list may still start from. */
  get compactedVersion(): number {
    return this.#compactedVersion
  }

  /** The newest resourceVersion of the log (the clock may be ahead of it). */
  get latestEventVersion(): number {
    return this.#log.at(-1)?.version.resourceVersion ?? this.#compactedVersion
  }

  current(index: number): PodVersion {
    const versions = this.#versions[index]!
    return versions[versions.length - 1]!
  }

  /** The pod as it was at `resourceVersion` (a list snapshot). */
  at(index: number, resourceVersion: number): PodVersion {
    const versions = this.#versions[index]!
    for (let i = versions.length - 1; i > 0; i--) {
      if (versions[i]!.resourceVersion <= resourceVersion) return versions[i]!
    }
    return versions[0]!
  }

  /** Changes a pod and logs the MODIFIED event; watchers are woken. */
  modify(index: number, change: (current: PodVersion) => Omit<PodVersion, "resourceVersion">): PodEvent {
    const version = { ...change(this.current(index)), resourceVersion: this.#clock.next() }
    this.#versions[index]!.push(version)
    const event: PodEvent = { type: "MODIFIED", index, version }
    this.#log.push(event)
    if (this.#log.length > this.#capacity * 1.1) this.#compact()
    return event
  }

  /** Index in the log of the first event newer than `resourceVersion`; undefined when already compacted. */
  firstEventAfter(resourceVersion: number): number | undefined {
    if (resourceVersion < this.#compactedVersion) return undefined
    let low = 0
    let high = this.#log.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (this.#log[middle]!.version.resourceVersion <= resourceVersion) low = middle + 1
      else high = middle
    }
    return this.#logOffset + low
  }

  /** The event at an absolute log position, or undefined when compacted away or not yet there. */
  event(position: number): PodEvent | undefined {
    return this.#log[position - this.#logOffset]
  }

  get logEnd(): number {
    return this.#logOffset + this.#log.length
  }

  /** Called after events were appended (in a batch: once). */
  onAppend(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  notify(): void {
    for (const listener of [...this.#listeners]) listener()
  }

  /** Log positions are absolute: compaction does not move a watcher's place. */
  #logOffset = 0

  /** Drops the oldest events beyond capacity and the versions no snapshot can need any more. */
  #compact(): void {
    const drop = this.#log.length - this.#capacity
    const dropped = this.#log.splice(0, drop)
    this.#logOffset += drop
    this.#compactedVersion = dropped.at(-1)!.version.resourceVersion
    for (const { index } of dropped) {
      const versions = this.#versions[index]!
      // Keep the newest version at or before the compaction point and everything after it.
      let keepFrom = 0
      for (let i = versions.length - 1; i >= 0; i--) {
        if (versions[i]!.resourceVersion <= this.#compactedVersion) {
          keepFrom = i
          break
        }
      }
      if (keepFrom > 0) versions.splice(0, keepFrom)
    }
  }
}
