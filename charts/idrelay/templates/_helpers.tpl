{{/* Name of the chart, overridable with nameOverride. */}}
{{- define "idrelay.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects, at most 63 characters. */}}
{{- define "idrelay.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "idrelay.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that never change for a release (Deployment selector, Service selector). */}}
{{- define "idrelay.selectorLabels" -}}
app.kubernetes.io/name: {{ include "idrelay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "idrelay.labels" -}}
helm.sh/chart: {{ include "idrelay.chart" . }}
{{ include "idrelay.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: idrelay
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "idrelay.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "idrelay.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "idrelay.leaseName" -}}
{{- default (include "idrelay.fullname" .) .Values.operator.leaseName }}
{{- end }}

{{- define "idrelay.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The namespaces the operator watches, one per line: watchNamespaces, or the release namespace in
namespaced mode when none are given. Empty in cluster mode without watchNamespaces (all).
*/}}
{{- define "idrelay.watchNamespaces" -}}
{{- if .Values.watchNamespaces }}
{{- range (uniq .Values.watchNamespaces) }}
{{ . }}
{{- end }}
{{- else if .Values.rbac.namespaced }}
{{ .Release.Namespace }}
{{- end }}
{{- end }}

{{/* The URL scheme of the tenant APIs. */}}
{{- define "idrelay.scheme" -}}
{{- if eq .Values.tls.mode "none" }}http{{ else }}https{{ end }}
{{- end }}

{{/* The rules the operator needs in a watched namespace (or cluster-wide). */}}
{{- define "idrelay.operatorRules" -}}
- apiGroups: ["idrelay.dev"]
  resources:
    - tenants
    - technicaladmins
    - sourcesystems
    - targetsystems
    - realtimetargets
    - tenants/status
    - technicaladmins/status
    - sourcesystems/status
    - targetsystems/status
    - realtimetargets/status
    - tenants/finalizers
    - technicaladmins/finalizers
    - sourcesystems/finalizers
    - targetsystems/finalizers
    - realtimetargets/finalizers
  verbs: ["get", "list", "watch", "patch", "update"]
# Secrets: read the referenced ones; write the generated ones (client credentials,
# certificates, the tenant CA), which carry owner references, so no delete.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
