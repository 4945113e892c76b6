{{/* Names, labels and the pieces every workload shares. */}}

{{- define "mailpipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mailpipe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mailpipe.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "mailpipe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mailpipe
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one service: (dict "root" $ "name" "parser") */}}
{{- define "mailpipe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mailpipe.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "mailpipe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mailpipe.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mailpipe.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding credentials: the user's or the chart's. */}}
{{- define "mailpipe.secretName" -}}
{{- default (printf "%s-secrets" (include "mailpipe.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/*
One service's values: serviceDefaults overlaid by services.<name>, config = top-level config
overlaid by the service's. Returns YAML; use with fromYaml. (dict "root" $ "name" "parser")
*/}}
{{- define "mailpipe.service" -}}
{{- $svc := index .root.Values.services .name | default dict -}}
{{- $merged := deepCopy .root.Values.serviceDefaults -}}
{{- include "mailpipe.merge" (dict "dst" $merged "src" (deepCopy $svc)) -}}
{{- $config := deepCopy .root.Values.config -}}
{{- include "mailpipe.merge" (dict "dst" $config "src" (deepCopy (.root.Values.serviceDefaults.config | default dict))) -}}
{{- include "mailpipe.merge" (dict "dst" $config "src" (deepCopy ($svc.config | default dict))) -}}
{{- include "mailpipe.merge" (dict "dst" $config "src" (include "mailpipe.kafkaTlsConfig" .root | fromYaml)) -}}
{{- $_ := set $merged "config" $config -}}
{{- toYaml $merged -}}
{{- end -}}

{{/*
Deep merge of .src into .dst (maps merged key by key, anything else replaced). Unlike sprig's
mergeOverwrite it keeps false, 0 and "" from .src: `enabled: false` must win over a default true.
*/}}
{{- define "mailpipe.merge" -}}
{{- $dst := .dst -}}
{{- range $key, $value := .src -}}
{{- if and (kindIs "map" $value) (kindIs "map" (index $dst $key)) -}}
{{- include "mailpipe.merge" (dict "dst" (index $dst $key) "src" $value) -}}
{{- else -}}
{{- $_ := set $dst $key $value -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
A setting's value as the environment variable text pydantic reads: numbers as written in values
(Helm keeps them exact), booleans as true/false.
*/}}
{{- define "mailpipe.envValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq (floor .) . }}{{ int64 . }}{{ else }}{{ . }}{{ end -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* MAILPIPE_* variables of a config map (section -> field -> value); null fields are left out. */}}
{{- define "mailpipe.configData" -}}
{{- range $section, $fields := . }}
{{- range $field, $value := $fields }}
{{- if not (kindIs "invalid" $value) }}
{{ printf "MAILPIPE_%s__%s" (upper $section) (upper $field) }}: {{ include "mailpipe.envValue" $value | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* env entries for secrets: (dict "root" $ "keys" (list "postgresDsn" ...)) */}}
{{- define "mailpipe.secretEnv" -}}
{{- $root := .root -}}
{{- $vars := (.root.Files.Get "files/secret-env.yaml" | fromYaml) -}}
{{- $keys := .keys -}}
{{- $secret := .secretName | default (include "mailpipe.secretName" $root) -}}
{{- if hasPrefix "SASL" (toString ($root.Values.config.kafka.security_protocol | default "")) -}}
{{- $keys = concat $keys (list "kafkaSaslUsername" "kafkaSaslPassword") | uniq -}}
{{- end -}}
{{- range $keys }}
- name: {{ index $vars . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ index $root.Values.secrets.keys . }}
{{- end }}
{{- end -}}

{{/* Topic partitions from files/topics.yaml (generated from schemas/topics). */}}
{{- define "mailpipe.partitions" -}}
{{- $found := 0 -}}
{{- range (.root.Files.Get "files/topics.yaml" | fromYaml).topics -}}
{{- if eq .name $.topic }}{{ $found = .partitions }}{{ end -}}
{{- end -}}
{{- if not $found -}}
{{- fail (printf "services.%s.consumer.topic: %q is not a topic of schemas/topics" .name .topic) -}}
{{- end -}}
{{- $found -}}
{{- end -}}

{{/* A service's ConfigMap data: values.config plus what the chart fixes in the pod. */}}
{{- define "mailpipe.serviceConfig" -}}
{{- $svc := .svc -}}
{{- include "mailpipe.configData" $svc.config | trimPrefix "\n" }}
{{- if not $svc.api }}
MAILPIPE_HTTP__HOST: "0.0.0.0"
MAILPIPE_HTTP__PORT: {{ $svc.http.port | quote }}
{{- else }}
MAILPIPE_STORAGE__API_HOST: "0.0.0.0"
MAILPIPE_STORAGE__API_PORT: {{ $svc.http.port | quote }}
{{- end }}
{{- if $svc.consumer }}
MAILPIPE_RUNTIME__GROUP_ID: {{ include "mailpipe.group" . | quote }}
{{- end }}
{{- end -}}

{{- define "mailpipe.group" -}}
{{- .svc.consumer.group | default (printf "mailpipe-%s" .name) -}}
{{- end -}}

{{/* The chart-made Secret's data (empty with existingSecret: its name stands in the checksum). */}}
{{- define "mailpipe.secretData" -}}
{{- if .Values.secrets.existingSecret -}}
existing: {{ .Values.secrets.existingSecret }}
{{- else -}}
{{- range $key, $value := .Values.secrets.values }}
{{- if $value }}
{{ index $.Values.secrets.keys $key }}: {{ $value | b64enc | quote }}
{{- end }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* values.config as a container's env list (for hook Jobs, which run before any ConfigMap exists). */}}
{{- define "mailpipe.configEnv" -}}
{{- range $key, $value := include "mailpipe.configData" . | fromYaml }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* The kafka settings the chart fixes for kafkaTls's files (a config map: section -> field -> path);
empty without kafkaTls.secretName. */}}
{{- define "mailpipe.kafkaTlsConfig" -}}
{{- $tls := .Values.kafkaTls -}}
{{- if $tls.secretName }}
kafka:
{{- range $field, $key := dict "ssl_ca_file" $tls.keys.ca "ssl_cert_file" $tls.keys.cert "ssl_key_file" $tls.keys.key }}
{{- if $key }}
  {{ $field }}: {{ printf "%s/%s" (trimSuffix "/" $tls.mountPath) $key | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* values.config with kafkaTls's files set (YAML; for hook Jobs, which take no per-service config). */}}
{{- define "mailpipe.globalConfig" -}}
{{- $config := deepCopy .Values.config -}}
{{- include "mailpipe.merge" (dict "dst" $config "src" (include "mailpipe.kafkaTlsConfig" . | fromYaml)) -}}
{{- toYaml $config -}}
{{- end -}}

{{/* kafkaTls's Secret as a volumeMount / a volume (nothing without kafkaTls.secretName). */}}
{{- define "mailpipe.kafkaTlsMount" -}}
{{- with .Values.kafkaTls.secretName }}
- name: kafka-tls
  mountPath: {{ $.Values.kafkaTls.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "mailpipe.kafkaTlsVolume" -}}
{{- with .Values.kafkaTls.secretName }}
- name: kafka-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- end -}}
