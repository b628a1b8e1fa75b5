{{/*
PromQL label matchers for this release's series: prometheusRule.selector,
else what the ServiceMonitor's scrapes carry (Prometheus Operator names the
job after the Service; namespace is the target's), so two releases never
see each other's series.
*/}}
{{- define "deployment-tracker.alertSelector" -}}
{{- default (printf "job=%q,namespace=%q" (include "deployment-tracker.fullname" .) .Release.Namespace) .Values.prometheusRule.selector }}
{{- end }}

{{/*
The alerts, before prometheusRule.alerts applies (on/off, for, severity).
Metric names are src/observability/Metrics.ts's; the thresholds follow the
tracker's own bounds (a silent watch is replaced after 3 min, /healthz fails
after 5; requeues back off at most 5 min). README "Alerts" says what to do
about each; test/deploy/alerts.test.yaml tests each with promtool.

Labelled counters first appear at their first increment, with value 1, and
increase() cannot see that step; `(x unless x offset W)` counts a series
born within the window from its start.
*/}}
{{- define "deployment-tracker.alertRules" -}}
{{- $s := include "deployment-tracker.alertSelector" . -}}
- alert: DeploymentTrackerDown
  expr: up{ {{- $s -}} } == 0
  annotations:
    summary: Prometheus cannot scrape deployment-tracker pod {{`{{ $labels.pod }}`}}.
    description: >-
      Scrapes of {{`{{ $labels.instance }}`}} (job {{`{{ $labels.job }}`}}, namespace
      {{`{{ $labels.namespace }}`}}) have failed for the alert's duration: the process is
      down, crash-looping or not listening on its metrics port. Check
      `kubectl -n {{`{{ $labels.namespace }}`}} describe pod {{`{{ $labels.pod }}`}}`
      (restarts, OOMKilled, image pull) and its logs (`--previous` after a restart).
- alert: DeploymentTrackerTargetMissing
  expr: absent(up{ {{- $s -}} })
  annotations:
    summary: Prometheus has no deployment-tracker target to scrape.
    description: >-
      No target matches {{ $s }}: the Deployment has no running pod (scaled to
      0, pods Pending or failing to start), the Service has no endpoints, or
      Prometheus does not select the ServiceMonitor (serviceMonitor.additionalLabels
      must match the Prometheus' serviceMonitorSelector). Nothing reports
      deployments to GitHub meanwhile.
- alert: DeploymentTrackerNotReady
  expr: deployment_tracker_ready{ {{- $s -}} } == 0
  annotations:
    summary: deployment-tracker pod {{`{{ $labels.pod }}`}} is not ready.
    description: >-
      /readyz has answered not ready for the alert's duration: the pod cache
      has not synced or the start-up sync has not finished, so nothing is
      reported. Check the pod's logs for list/watch errors (RBAC: `kubectl auth can-i list pods
      --as=system:serviceaccount:{{`{{ $labels.namespace }}`}}:<service account>`), API server
      reachability, and GitHub errors during the bulk sync.
- alert: DeploymentTrackerNotLive
  expr: deployment_tracker_live{ {{- $s -}} } == 0
  annotations:
    summary: deployment-tracker pod {{`{{ $labels.pod }}`}} fails its liveness check and is not restarted.
    description: >-
      /healthz has answered not live for the alert's duration (a watch or a
      worker stopped making progress), yet the kubelet has not restarted the
      container: check the liveness probe (livenessProbe values) and
      `curl <pod>:<metrics port>/healthz`, which names the stuck loop.
- alert: DeploymentTrackerRestarting
  expr: changes(process_start_time_seconds{ {{- $s -}} }[1h]) > 2
  annotations:
    summary: deployment-tracker pod {{`{{ $labels.pod }}`}} restarted {{`{{ $value }}`}} times in an hour.
    description: >-
      The process keeps restarting: a failed liveness probe (a stalled watch
      or worker: see DeploymentTrackerWatchStalled), OOM (raise resources.limits.memory
      with nodeOptions' heap cap) or a crash. Check `kubectl describe pod` (last state,
      reason) and the previous container's logs.
- alert: DeploymentTrackerWatchStalled
  expr: max_over_time(deployment_tracker_watch_silence_seconds{ {{- $s -}} }[10m]) > 240
  annotations:
    summary: The {{`{{ $labels.watch }}`}} watch of deployment-tracker pod {{`{{ $labels.pod }}`}} keeps getting nothing from the API server.
    description: >-
      For the alert's duration the {{`{{ $labels.watch }}`}} watch has again and again
      waited over 4 minutes for an event or bookmark (the tracker replaces a watch
      silent for 3 minutes and turns /healthz red after 5), so changes
      reach the tracker late or not at all. Check the API server's health and
      load, network policies and proxies between the pod and the API server, and
      the logs for "watch" errors; deployment_tracker_watch_restarts_total says how
      watches end.
- alert: DeploymentTrackerPostsFailing
  expr: sum by (namespace, job) (rate(deptracker_post_record_hard_fail{ {{- $s -}} }[10m])) > 0
  annotations:
    summary: deployment-tracker cannot deliver records to GitHub.
    description: >-
      Records have kept failing after all their retries (5xx answers, timeouts
      or network errors) for the alert's duration; they are requeued, so
      nothing is lost while the tracker runs, but GitHub does not show the
      current deployments. Check GitHub's status, egress from the namespace
      {{`{{ $labels.namespace }}`}} to the API host (config.baseUrl: proxies,
      network policies, DNS) and the logs' "Posting the record failed" lines.
- alert: DeploymentTrackerReconcilesFailing
  expr: sum by (namespace, job) (rate(deptracker_events_processed_failed{ {{- $s -}} }[10m])) > 0
  annotations:
    summary: deployment-tracker keeps failing to reconcile workloads.
    description: >-
      Reconciles have failed and been requeued for the alert's duration (by
      event type: deptracker_events_processed_failed). When DeploymentTrackerPostsFailing
      fires too, GitHub is the cause; otherwise the logs' "Unexpected failure
      reconciling a workload" and "Could not read the owner of a pod" lines name
      the workloads (API server errors, or RBAC for an owner kind: see the
      README's Permissions).
- alert: DeploymentTrackerRecordsRefused
  expr: sum by (namespace, job) (increase(deptracker_post_record_client_error{ {{- $s -}} }[30m])) > 0
  annotations:
    summary: GitHub refused deployment records (4xx) in the last 30 minutes.
    description: >-
      GitHub answered 4xx (not retried): 401/403 mean the token or GitHub App
      lacks access to the organization's artifact metadata (check auth.*
      values and the token's scopes or the App's permissions and installation), 422 a
      record GitHub rejects. The logs' "GitHub refused the record" lines name the
      record and GitHub's message; a refused record is sent again after an hour.
      Those deployments are not shown on GitHub meanwhile.
- alert: DeploymentTrackerRecordsInvalid
  expr: sum by (namespace, job, field) ((deployment_tracker_records_invalid_total{ {{- $s -}} } unless deployment_tracker_records_invalid_total{ {{- $s -}} } offset 30m) or increase(deployment_tracker_records_invalid_total{ {{- $s -}} }[30m])) > 0
  annotations:
    summary: deployment-tracker left out records with an invalid {{`{{ $labels.field }}`}}.
    description: >-
      Records were not sent because their {{`{{ $labels.field }}`}} breaks GitHub's
      constraints (length, characters), usually a deployment name from
      config.dnTemplate with long namespace or workload names, or an image
      reference. The logs' "Record violates the API's constraints" lines name
      the workloads; shorten the template or the names.
- alert: DeploymentTrackerRateLimited
  expr: deployment_tracker_rate_limit_wait_seconds{ {{- $s -}} } > 0
  annotations:
    summary: GitHub has rate-limited deployment-tracker pod {{`{{ $labels.pod }}`}} for long ({{`{{ $value | humanizeDuration }}`}} still to wait).
    description: >-
      Requests to GitHub have been held back by its rate limit for the alert's
      duration; records queue up meanwhile. Something else may be using the same token or App
      installation's budget; use a GitHub App of its own (higher limits) or
      lower config.apiRateLimit / config.workers so the tracker stays below it.
- alert: DeploymentTrackerStateNotPersisted
  expr: >-
    deployment_tracker_state_operations_total{ {{- $s -}} ,operation="save",outcome="forbidden"} > 0
    or deployment_tracker_state_operations_total{ {{- $s -}} ,operation="load",outcome=~"forbidden|failed"} > 0
    or (sum by (namespace, job, pod, instance) (rate(deployment_tracker_state_operations_total{ {{- $s -}} ,operation="save",outcome="failed"}[10m])) > 0
      unless sum by (namespace, job, pod, instance) (rate(deployment_tracker_state_operations_total{ {{- $s -}} ,operation="save",outcome="ok"}[10m])) > 0)
  annotations:
    summary: deployment-tracker pod {{`{{ $labels.pod }}`}} does not keep its deployed state.
    description: >-
      The state ConfigMap (state.configMapName) cannot be read or written: a
      forbidden read or write, or a failed read, turns persistence off until the
      next start; failing writes retry. Meanwhile a workload deleted while no
      tracker runs will not be decommissioned on GitHub. Check the state Role
      (`kubectl -n {{`{{ $labels.namespace }}`}} auth can-i update configmap/<name> --as=system:serviceaccount:...`),
      that the ConfigMap's name matches the Role's, and the logs' "state ConfigMap" lines.
- alert: DeploymentTrackerStateDiscarded
  expr: deployment_tracker_state_operations_total{ {{- $s -}} ,operation="load",outcome=~"unreadable|foreign"} unless deployment_tracker_state_operations_total{ {{- $s -}} ,operation="load",outcome=~"unreadable|foreign"} offset 1h
  annotations:
    summary: deployment-tracker pod {{`{{ $labels.pod }}`}} started without its remembered state ({{`{{ $labels.outcome }}`}}).
    description: >-
      The state ConfigMap's content was {{`{{ $labels.outcome }}`}} (foreign: written for
      another organization, cluster or environment; unreadable: corrupt) and is
      being overwritten. Workloads deleted while no tracker ran stay "deployed"
      on GitHub until decommissioned by hand. If two trackers share one
      ConfigMap, give each its own state.configMapName.
- alert: DeploymentTrackerStateTruncated
  expr: deployment_tracker_state_names_dropped{ {{- $s -}} } > 0
  annotations:
    summary: deployment-tracker's state ConfigMap is full ({{`{{ $value }}`}} names left out).
    description: >-
      The deployed names no longer fit in the state ConfigMap's 1 MiB; the
      oldest are left out and would not be decommissioned if their workloads
      were deleted while no tracker runs. Shorten config.dnTemplate or split the
      cluster between trackers (config.namespace / config.excludeNamespaces).
- alert: DeploymentTrackerNoLeader
  expr: max by (namespace, job) (deployment_tracker_leader{ {{- $s -}} }) == 0
  annotations:
    summary: No deployment-tracker replica holds the leader-election Lease.
    description: >-
      Every replica stands by, so nothing is watched or reported. Check the
      Lease (`kubectl -n {{`{{ $labels.namespace }}`}} get lease <leaderElection.resourceName> -o yaml`:
      holder, renew time), the Lease Role, and the replicas' logs for
      leader-election errors.
{{- end }}
