import type { FaultSpec, RequestEntry, StoredRecord, Violation } from "../../../scripts/github-sim/simulator.ts"

export type { FaultSpec, RequestEntry, StoredRecord, Violation }

/**
 * The shared GitHub simulator, seen from a test worker: its /_sim/* control
 * endpoints over HTTP (the simulator itself lives in the global setup's
 * process). Every test posts under its own org, so each view is filtered to it.
 */
export class GitHubSimulatorClient {
  readonly origin: string
  readonly org: string

  constructor(origin: string, org: string) {
    this.origin = origin
    this.org = org
  }

  private async control<A>(method: string, path: string, body?: unknown): Promise<A> {
    const response = await fetch(`${this.origin}/_sim/${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`simulator ${method} /_sim/${path}: HTTP ${response.status} ${text}`)
    return (text === "" ? undefined : JSON.parse(text)) as A
  }

  private ours(path: string): boolean {
    return path.toLowerCase().startsWith(`/orgs/${this.org.toLowerCase()}/`)
  }

  /** Records stored for this test's org. */
  async records(): Promise<StoredRecord[]> {
    const all = await this.control<StoredRecord[]>("GET", "records")
    return all.filter((r) => r.org.toLowerCase() === this.org.toLowerCase())
  }

  /** Requests made to this test's org. */
  async requests(): Promise<RequestEntry[]> {
    const all = await this.control<RequestEntry[]>("GET", "requests")
    return all.filter((r) => this.ours(r.path))
  }

  /** Violations of requests made to this test's org. */
  async violations(): Promise<Violation[]> {
    const all = await this.control<Violation[]>("GET", "violations")
    return all.filter((v) => this.ours(v.path))
  }

  /** Adds faults (they apply to every request, so tests that inject them run alone). */
  async addFaults(faults: FaultSpec | ReadonlyArray<FaultSpec>): Promise<void> {
    await this.control("POST", "faults", faults)
  }

  async clearFaults(): Promise<void> {
    await this.control("DELETE", "faults")
  }

  /** Forgets every record, request, violation, fault and the rate-limit state. */
  async reset(): Promise<void> {
    await this.control("POST", "reset")
  }
}
