{{- define "lookout-platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lookout-platform.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "lookout-platform.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "lookout-platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "lookout-platform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lookout-platform.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "lookout-platform.image" -}}
"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
{{- end }}

{{- define "lookout-platform.validate" -}}
{{- if not .Values.existingSecret }}
{{- fail "existingSecret is required: a Secret with database-url and master-key; secrets are never inlined in values" }}
{{- end }}
{{- if and .Values.codecServer.enabled (not .Values.codecServer.existingSecret) }}
{{- fail "codecServer.existingSecret is required when codecServer.enabled: a Secret with keys.json and token" }}
{{- end }}
{{- if and .Values.codecServer.enabled (not .Values.codecServer.tlsSecretName) }}
{{- fail "codecServer.tlsSecretName is required when codecServer.enabled: the codec server decrypts payloads and serves HTTPS only" }}
{{- end }}
{{- if and .Values.codecServer.enabled (eq .Values.codecServer.auth "oidc") (not (and .Values.codecServer.oidc.issuer .Values.codecServer.oidc.audiences)) }}
{{- fail "codecServer.oidc.issuer and codecServer.oidc.audiences are required with codecServer.auth=oidc" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) }}
{{- fail "ingress.host is required when ingress.enabled" }}
{{- end }}
{{- if and .Values.temporal.tls.clientCertificate (not .Values.temporal.tls.secretName) }}
{{- fail "temporal.tls.secretName is required when temporal.tls.clientCertificate" }}
{{- end }}
{{- end }}

{{/* Secure defaults of every pod and container. */}}
{{- define "lookout-platform.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "lookout-platform.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}

{{/* Environment shared by the API, the worker and the migration Job. */}}
{{- define "lookout-platform.env" -}}
- name: DATABASE_URL
  valueFrom: { secretKeyRef: { name: {{ .Values.existingSecret }}, key: database-url } }
{{- if .Values.kms.enabled }}
- name: LOOKOUT_MASTER_KEY_WRAPPED
  valueFrom: { secretKeyRef: { name: {{ .Values.existingSecret }}, key: master-key-wrapped } }
- name: LOOKOUT_KMS_TOKEN
  valueFrom: { secretKeyRef: { name: {{ .Values.existingSecret }}, key: kms-token } }
- name: LOOKOUT_KMS_ADDR
  value: {{ required "kms.address is required with kms.enabled" .Values.kms.address | quote }}
- name: LOOKOUT_KMS_TRANSIT_MOUNT
  value: {{ .Values.kms.transitMount | quote }}
- name: LOOKOUT_KMS_TRANSIT_KEY
  value: {{ required "kms.transitKey is required with kms.enabled" .Values.kms.transitKey | quote }}
{{- if .Values.kms.caConfigMapName }}
- name: LOOKOUT_KMS_CA_FILE
  value: /etc/lookout/kms-ca/ca.crt
{{- end }}
{{- else }}
- name: LOOKOUT_MASTER_KEY
  valueFrom: { secretKeyRef: { name: {{ .Values.existingSecret }}, key: master-key } }
{{- end }}
- name: LOOKOUT_TEMPORAL_ADDRESS
  value: {{ required "temporal.address is required" .Values.temporal.address | quote }}
- name: LOOKOUT_TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: LOOKOUT_TEMPORAL_NAMESPACES
  value: {{ .Values.temporal.namespaces | quote }}
- name: LOOKOUT_TEMPORAL_NAMESPACE_PREFIX
  value: {{ .Values.temporal.namespacePrefix | quote }}
- name: LOOKOUT_TEMPORAL_TLS
  value: {{ .Values.temporal.tls.enabled | quote }}
{{- with .Values.temporal.tls.serverName }}
- name: LOOKOUT_TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- if .Values.temporal.tls.secretName }}
- name: LOOKOUT_TEMPORAL_TLS_CA_FILE
  value: /etc/lookout/temporal-tls/ca.crt
{{- end }}
{{- if .Values.temporal.tls.clientCertificate }}
- name: LOOKOUT_TEMPORAL_TLS_CERT_FILE
  value: /etc/lookout/temporal-tls/tls.crt
- name: LOOKOUT_TEMPORAL_TLS_KEY_FILE
  value: /etc/lookout/temporal-tls/tls.key
{{- end }}
{{- if .Values.temporal.apiKey }}
- name: LOOKOUT_TEMPORAL_API_KEY
  valueFrom: { secretKeyRef: { name: {{ .Values.existingSecret }}, key: temporal-api-key } }
{{- end }}
- name: LOOKOUT_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end }}

{{- define "lookout-platform.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.temporal.tls.secretName }}
- name: temporal-tls
  mountPath: /etc/lookout/temporal-tls
  readOnly: true
{{- end }}
{{- if and .Values.kms.enabled .Values.kms.caConfigMapName }}
- name: kms-ca
  mountPath: /etc/lookout/kms-ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "lookout-platform.volumes" -}}
- name: tmp
  emptyDir: { sizeLimit: 64Mi }
{{- if .Values.temporal.tls.secretName }}
- name: temporal-tls
  secret: { secretName: {{ .Values.temporal.tls.secretName }}, defaultMode: 256 }
{{- end }}
{{- if and .Values.kms.enabled .Values.kms.caConfigMapName }}
- name: kms-ca
  configMap: { name: {{ .Values.kms.caConfigMapName }} }
{{- end }}
{{- end }}

{{- define "lookout-platform.scheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Metrics and traces of one component (`port`: its metrics port). */}}
{{- define "lookout-platform.telemetryEnv" -}}
- name: LOOKOUT_METRICS_LISTEN
  value: {{ printf "%s:%d" (ternary "0.0.0.0" "127.0.0.1" .root.Values.metrics.enabled) (int .port) | quote }}
{{- if and .root.Values.metrics.enabled .root.Values.metrics.tokenKey }}
- name: LOOKOUT_METRICS_TOKEN
  valueFrom: { secretKeyRef: { name: {{ .root.Values.existingSecret }}, key: {{ .root.Values.metrics.tokenKey }} } }
{{- end }}
{{- with .root.Values.otlpEndpoint }}
- name: LOOKOUT_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Scrape annotations of one component, when metrics are on. */}}
{{- define "lookout-platform.scrapeAnnotations" -}}
{{- if and .root.Values.metrics.enabled .root.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* Notification delivery: the platform worker sends, the API sends `sinks test`. */}}
{{- define "lookout-platform.notifyEnv" -}}
- name: LOOKOUT_NOTIFY_ALLOW_PRIVATE
  value: {{ .Values.notifications.allowPrivateDestinations | quote }}
- name: LOOKOUT_NOTIFY_MAX_ATTEMPTS
  value: {{ .Values.notifications.maxAttempts | quote }}
- name: LOOKOUT_NOTIFY_RETRY_MS
  value: {{ .Values.notifications.retryMs | quote }}
{{- end }}

{{/* Mail (invitations from the API, email sinks from the platform worker): the URL from the Secret only. */}}
{{- define "lookout-platform.mailEnv" -}}
{{- if .Values.mail.enabled }}
- name: LOOKOUT_SMTP_URL
  valueFrom: { secretKeyRef: { name: {{ .Values.existingSecret }}, key: smtp-url } }
- name: LOOKOUT_SMTP_FROM
  value: {{ .Values.mail.from | quote }}
{{- if .Values.mail.caConfigMapName }}
- name: LOOKOUT_SMTP_CA_FILE
  value: /etc/lookout/smtp-ca/ca.crt
{{- end }}
{{- end }}
{{- end }}
