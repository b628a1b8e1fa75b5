{{/* The chart's name, nameOverride applied (63 characters at most, a DNS label). */}}
{{- define "deployment-tracker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of the release's objects: fullnameOverride, else the release name
when it already holds the chart's name (release "deployment-tracker" gives
"deployment-tracker", like the manifest), else "<release>-<name>".
*/}}
{{- define "deployment-tracker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "deployment-tracker.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels that select the release's pods (also on every object). */}}
{{- define "deployment-tracker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "deployment-tracker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Every object's labels: the selector labels and Helm's standard ones. */}}
{{- define "deployment-tracker.labels" -}}
{{ include "deployment-tracker.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "deployment-tracker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "deployment-tracker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* "true" when leader election is on: leaderElection.enabled true, or auto with more than one replica. */}}
{{- define "deployment-tracker.leaderElection" -}}
{{- $enabled := toString .Values.leaderElection.enabled }}
{{- if eq $enabled "auto" }}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- else if eq $enabled "true" }}true
{{- else if ne $enabled "false" }}
{{- fail (printf "leaderElection.enabled must be auto, true or false, not %q" $enabled) }}
{{- end }}
{{- end }}

{{/* The state ConfigMap's name: state.configMapName, else <full name>-state. */}}
{{- define "deployment-tracker.stateConfigMapName" -}}
{{- default (printf "%s-state" (include "deployment-tracker.fullname" .)) .Values.state.configMapName }}
{{- end }}

{{- define "deployment-tracker.leaseName" -}}
{{- default (include "deployment-tracker.fullname" .) .Values.leaderElection.resourceName }}
{{- end }}

{{/* The chart's own Secret holds values given inline (auth.apiToken, auth.githubApp.privateKey). */}}
{{- define "deployment-tracker.ownSecret" -}}
{{- if or .Values.auth.apiToken .Values.auth.githubApp.privateKey }}true{{ end }}
{{- end }}
