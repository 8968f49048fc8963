{{/* Standard names, as helm create and the bitnami charts make them. */}}
{{- define "lookout-runner.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lookout-runner.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "lookout-runner.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "lookout-runner.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "lookout-runner.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lookout-runner.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lookout-runner.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lookout-runner.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Fails early, with a clear message, on values the schema cannot express. */}}
{{- define "lookout-runner.validate" -}}
{{- if not .Values.existingSecret }}
{{- fail "existingSecret is required: create a Secret holding keys.json (lookout keys export) and name it here; key material is never inlined in values" }}
{{- end }}
{{- if and (eq .Values.rbac.scope "namespaces") (empty .Values.rbac.namespaces) }}
{{- fail "rbac.namespaces must list at least one namespace when rbac.scope is namespaces" }}
{{- end }}
{{- if ge (int .Values.runner.shutdownGraceSeconds) (int .Values.terminationGracePeriodSeconds) }}
{{- fail "terminationGracePeriodSeconds must be longer than runner.shutdownGraceSeconds, so that running checks can finish" }}
{{- end }}
{{- end }}

{{/* Whether /metrics is reachable from outside the pod (enabled and not bound to loopback). */}}
{{- define "lookout-runner.metricsExposed" -}}
{{- if and .Values.metrics.enabled (not (regexMatch "^(127\\.[0-9.]+|localhost|\\[::1\\]):" .Values.metrics.listen)) -}}true{{- end -}}
{{- end }}

{{/* The port of metrics.listen. */}}
{{- define "lookout-runner.metricsPort" -}}
{{- regexReplaceAll "^.*:([0-9]+)$" .Values.metrics.listen "${1}" -}}
{{- end }}
