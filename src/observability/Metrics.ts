import { Effect, type Scope } from "effect"
import * as Prom from "prom-client"

/**
 * Prometheus metrics. The `deptracker_*` names, help-independent labels and
 * types are those of the Go original, because operators' dashboards and
 * alerts depend on them; the `deployment_tracker_*` ones are ours.
 *
 * Each process (and each test) owns its own Registry: prom-client's global
 * registry would be shared mutable state and throws on re-registration.
 */
export class Metrics extends Effect.Service<Metrics>()("deployment-tracker/Metrics", {
  sync: () => {
    const registry = new Prom.Registry()
    // Gauges whose owners set them when /metrics is read (see onScrape), so
    // a scrape never shows a stale queue depth.
    const scrapeHooks = new Set<Effect.Effect<void>>()
    Prom.collectDefaultMetrics({ register: registry })
    const registers = [registry]

    const counter = (name: string, help: string) => new Prom.Counter({ name, help, registers })
    const labelledCounter = <L extends string>(name: string, help: string, ...labelNames: readonly [L, ...Array<L>]) =>
      new Prom.Counter<L>({ name, help, labelNames, registers })
    const gauge = (name: string, help: string) => new Prom.Gauge({ name, help, registers })
    const labelledGauge = <L extends string>(name: string, help: string, label: L) =>
      new Prom.Gauge<L>({ name, help, labelNames: [label], registers })

    const eventsProcessedOk = labelledCounter(
      "deptracker_events_processed_ok",
      "The total number of successful events",
      "event_type"
    )
    const eventsProcessedFailed = labelledCounter(
      "deptracker_events_processed_failed",
      "The total number of failed events",
      "event_type"
    )
    const eventsProcessedTimer = new Prom.Histogram({
      name: "deptracker_events_processed_timer",
      help: "The duration (seconds) for processing k8s events",
      labelNames: ["status"] as const,
      registers
    })
    const postDeploymentRecordTimer = new Prom.Histogram({
      name: "deptracker_post_deployment_record_timer",
      help: "The duration (seconds) for posting data to the GitHub API",
      registers
    })
    const recordsInvalid = labelledCounter(
      "deployment_tracker_records_invalid_total",
      "Records not sent because they violate the API's published constraints, by field",
      "field"
    )
    const annotationsInvalid = labelledCounter(
      "deployment_tracker_annotations_invalid_total",
      "Annotation values left out because they are invalid, by annotation (runtime-risks, tag, github-repository of metadata.github.com/*; a Namespace's logical-environment, physical-environment)",
      "annotation"
    )
    const postRecordNotFound = labelledCounter(
      "deployment_tracker_post_record_not_found_total",
      "Record posts answered 404, by reason (no_artifacts_found: the digest has no attestation; other: any other 404, e.g. an org or endpoint the token cannot see); either way the digest is not posted again for an hour",
      "reason"
    )
    const recordsDryRun = labelledCounter(
      "deployment_tracker_records_dry_run_total",
      "Records built and validated but not sent because of -dry-run, by status",
      "status"
    )
    const bulkSyncRuns = labelledCounter(
      "deployment_tracker_bulk_sync_runs_total",
      "Start-up bulk syncs, by outcome (completed, failed, conflict, unavailable, skipped, dry-run, error)",
      "outcome"
    )
    const bulkSyncRecords = labelledCounter(
      "deployment_tracker_bulk_sync_records_total",
      "Records of the start-up bulk sync, by result (submitted, seen, rejected, invalid, not_sent)",
      "result"
    )
    const watchObjectsInvalid = counter(
      "deployment_tracker_watch_objects_invalid_total",
      "Objects from the Kubernetes watches (pods and workloads) that could not be read (logged and skipped)"
    )
    const watchRestarts = labelledCounter(
      "deployment_tracker_watch_restarts_total",
      "Watch restarts (pods and workloads), by reason (closed, expired, error)",
      "reason"
    )
    const stateOperations = labelledCounter(
      "deployment_tracker_state_operations_total",
      "Reads (load: ok, absent, unreadable, foreign, forbidden, failed) and writes (save: ok, forbidden, failed) of the state ConfigMap",
      "operation",
      "outcome"
    )
    const stateNamesDropped = gauge(
      "deployment_tracker_state_names_dropped",
      "Deployed names left out of the last write of the state ConfigMap because they did not fit in its 1 MiB (the oldest)"
    )
    const metadataReads = labelledCounter(
      "deployment_tracker_metadata_reads_total",
      "Reads of single objects from the Kubernetes API (owners that are not watched, or not yet seen by a watch), by kind and result (found, absent, unreadable, error)",
      "kind",
      "result"
    )
    const ready = gauge(
      "deployment_tracker_ready",
      "1 when /readyz answers ready (caches synced and start-up sync done, or a leader-election standby), else 0"
    )
    const live = gauge(
      "deployment_tracker_live",
      "1 when /healthz answers live (every watch and worker makes progress), else 0"
    )
    const watchSilence = labelledGauge(
      "deployment_tracker_watch_silence_seconds",
      "Seconds a watch has waited on the API server without a list page, event or bookmark (0 while its events are being handled)",
      "watch"
    )
    const rateLimitWait = gauge(
      "deployment_tracker_rate_limit_wait_seconds",
      "Seconds until GitHub's rate limit lets requests go again (0 when not limited)"
    )
    const workQueueDepth = gauge(
      "deployment_tracker_workqueue_depth",
      "Keys waiting in or being processed from the work queue"
    )
    const cachedPods = gauge(
      "deployment_tracker_cached_pods",
      "Pods held in the slim pod cache"
    )
    const trackedWorkloads = gauge(
      "deployment_tracker_workloads",
      "Workload keys (namespace and workload name) with at least one pod"
    )
    const reportedNames = gauge(
      "deployment_tracker_deployment_names_reported",
      "Deployment names GitHub was last told are deployed (the ledger)"
    )
    const cachedWorkloads = gauge(
      "deployment_tracker_cached_workloads",
      "Workloads (Deployments, DaemonSets, StatefulSets, Jobs, CronJobs) held in the metadata caches"
    )

    const kubeEventWrites = labelledCounter(
      "deployment_tracker_kube_events_total",
      "Writes of Kubernetes Events (events.k8s.io) on workload objects, by result (created, series_updated, not_found: the Event had expired and is created again, exists: a create that had landed already, failed: retried, rejected, forbidden)",
      "result"
    )
    const kubeEventOutcomes = labelledCounter(
      "deployment_tracker_kube_event_outcomes_total",
      "Outcomes of deployment names shown as Kubernetes Events, before aggregation (a repeat counts here and increments its Event's series), by reason",
      "reason"
    )
    const kubeEventsDropped = labelledCounter(
      "deployment_tracker_kube_events_dropped_total",
      "Kubernetes Events (or series updates) never written, by cause (evicted: more distinct Events pending than the recorder keeps; retries: every attempt failed; shutdown: not written before the shutdown deadline)",
      "cause"
    )

    return {
      registry,
      /** Events (by trigger: the original's CREATED/DELETED and ours) a reconcile covered. */
      eventsProcessed: (type: string, ok: boolean, count: number) => {
        if (ok) eventsProcessedOk.inc({ event_type: type }, count)
        else eventsProcessedFailed.inc({ event_type: type }, count)
      },
      /** One reconcile of a workload key, timed. */
      reconciled: (ok: boolean, seconds: number) => eventsProcessedTimer.observe({ status: ok ? "ok" : "failed" }, seconds),
      postAttemptSeconds: (seconds: number) => postDeploymentRecordTimer.observe(seconds),
      postOk: counter("deptracker_post_record_ok", "The total number of successful posts"),
      postRateLimited: counter("deptracker_post_record_rate_limited", "The total number of post attempts that were rate limited"),
      postUnknownArtifact: counter(
        "deptracker_post_record_unknown_artifact",
        "The total number of post attempts that resulted in no matching attestation for the container digest (404 responses)"
      ),
      postNotFound: (reason: "no_artifacts_found" | "other") => postRecordNotFound.inc({ reason }),
      postUnknownArtifactCacheHit: counter(
        "deptracker_post_record_unknown_artifact_cache_hit",
        "The total number of API calls avoided due to a cached 404 for an unknown artifact digest"
      ),
      postSoftFail: counter("deptracker_post_record_soft_fail", "The total number of soft (recoverable) post failures"),
      postHardFail: counter("deptracker_post_record_hard_fail", "The total number of hard post failures"),
      postClientError: counter("deptracker_post_record_client_error", "The total number of non-retryable client failures"),
      recordInvalid: (field: string) => recordsInvalid.inc({ field }),
      annotationInvalid: (
        annotation: "runtime-risks" | "tag" | "github-repository" | "logical-environment" | "physical-environment"
      ) => annotationsInvalid.inc({ annotation }),
      recordDryRun: (status: "deployed" | "decommissioned") => recordsDryRun.inc({ status }),
      bulkSync: (outcome: string, counts: Readonly<Record<"submitted" | "seen" | "rejected" | "invalid" | "not_sent", number>>) => {
        bulkSyncRuns.inc({ outcome })
        for (const [result, count] of Object.entries(counts)) if (count > 0) bulkSyncRecords.inc({ result }, count)
      },
      watchObjectInvalid: watchObjectsInvalid,
      watchRestart: (reason: "closed" | "expired" | "error") => watchRestarts.inc({ reason }),
      stateOperation: (
        operation: "load" | "save",
        outcome: "ok" | "absent" | "unreadable" | "foreign" | "forbidden" | "failed"
      ) => stateOperations.inc({ operation, outcome }),
      stateNamesDropped,
      kubeEventWrite: (
        result: "created" | "series_updated" | "not_found" | "exists" | "failed" | "rejected" | "forbidden"
      ) => kubeEventWrites.inc({ result }),
      kubeEventOutcome: (reason: string) => kubeEventOutcomes.inc({ reason }),
      kubeEventDropped: (cause: "evicted" | "retries" | "shutdown") => kubeEventsDropped.inc({ cause }),
      metadataRead: (kind: string, result: "found" | "absent" | "unreadable" | "error") => metadataReads.inc({ kind, result }),
      ready,
      live,
      watchSilence,
      rateLimitWait,
      workQueueDepth,
      cachedPods,
      cachedWorkloads,
      trackedWorkloads,
      reportedNames,
      /** Runs `update` before every scrape while the scope is open (it sets gauges). */
      onScrape: (update: Effect.Effect<void>): Effect.Effect<void, never, Scope.Scope> =>
        Effect.acquireRelease(
          Effect.sync(() => scrapeHooks.add(update)),
          () => Effect.sync(() => scrapeHooks.delete(update))
        ),
      render: Effect.suspend(() => Effect.forEach([...scrapeHooks], (update) => update, { discard: true })).pipe(
        Effect.zipRight(Effect.promise(() => registry.metrics()))
      ),
      contentType: registry.contentType
    } as const
  }
}) {}
