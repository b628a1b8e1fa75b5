// Cluster deployment-record jobs: accepted with 202, then pending ->
// processing -> completed (records applied) or failed, each step after a
// configurable delay. One job at a time per (org, cluster), as GitHub's 409
// "A job is already in progress for this cluster." implies.
import type { DeploymentInput } from "./store.ts"

export type JobStatus = "pending" | "processing" | "completed" | "failed"

export interface JobError {
  readonly cause: string
  readonly name?: string
  readonly deployment_name?: string
  readonly digest?: string
  readonly message: string
}

export interface Job {
  readonly job_id: number
  readonly org: string
  readonly cluster: string
  readonly logical_environment: string
  readonly physical_environment: string
  readonly deployments: ReadonlyArray<DeploymentInput>
  /** Deployments refused at submission (returned in the 202 body). */
  readonly rejected: ReadonlyArray<JobError>
  readonly fail: boolean
  readonly created_at: string
  status: JobStatus
  started_at: string | undefined
  finished_at: string | undefined
  total_count: number | undefined
  errors: JobError[] | undefined
}

/** The GET …/jobs/{job_id} body: fields appear only in the states the description names. */
export function jobView(job: Job): Record<string, unknown> {
  return {
    job_id: job.job_id,
    status: job.status,
    ...(job.started_at === undefined ? {} : { started_at: job.started_at }),
    ...(job.status === "completed" ? { total_count: job.total_count ?? 0 } : {}),
    ...(job.status === "completed" || job.status === "failed" ? { errors: job.errors ?? [] } : {})
  }
}

export class JobRunner {
  readonly #jobs = new Map<number, Job>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #delayMs: number
  readonly #apply: (job: Job) => number
  readonly #onChange: (job: Job) => void
  readonly #now: () => number
  #nextId = 1

  constructor(options: {
    delayMs: number
    /** Writes the job's records; returns how many were written. */
    apply: (job: Job) => number
    onChange: (job: Job) => void
    now: () => number
  }) {
    this.#delayMs = options.delayMs
    this.#apply = options.apply
    this.#onChange = options.onChange
    this.#now = options.now
  }

  inProgress(org: string, cluster: string): Job | undefined {
    for (const job of this.#jobs.values()) {
      if (sameCluster(job, org, cluster) && (job.status === "pending" || job.status === "processing")) return job
    }
    return undefined
  }

  submit(spec: Omit<Job, "job_id" | "created_at" | "status" | "started_at" | "finished_at" | "total_count" | "errors">): Job {
    const job: Job = {
      ...spec,
      job_id: this.#nextId++,
      created_at: new Date(this.#now()).toISOString(),
      status: "pending",
      started_at: undefined,
      finished_at: undefined,
      total_count: undefined,
      errors: undefined
    }
    this.#jobs.set(job.job_id, job)
    this.#after(() => {
      job.status = "processing"
      job.started_at = new Date(this.#now()).toISOString()
      this.#onChange(job)
      this.#after(() => this.#finish(job))
    })
    this.#onChange(job)
    return job
  }

  get(org: string, cluster: string, jobId: number): Job | undefined {
    const job = this.#jobs.get(jobId)
    return job !== undefined && sameCluster(job, org, cluster) ? job : undefined
  }

  list(): Job[] {
    return [...this.#jobs.values()]
  }

  clear(): void {
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#jobs.clear()
    this.#nextId = 1
  }

  #finish(job: Job): void {
    job.finished_at = new Date(this.#now()).toISOString()
    if (job.fail) {
      job.status = "failed"
      job.errors = [{ cause: "internal_error", message: "The job failed (fault injected by the simulator)." }]
    } else {
      job.total_count = this.#apply(job)
      job.status = "completed"
      job.errors = []
    }
    this.#onChange(job)
  }

  #after(run: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      run()
    }, this.#delayMs)
    timer.unref()
    this.#timers.add(timer)
  }
}

function sameCluster(job: Job, org: string, cluster: string): boolean {
  return job.org.toLowerCase() === org.toLowerCase() && job.cluster === cluster
}
