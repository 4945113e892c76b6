{{/* Checks values cannot express in the schema; each fails rendering naming the values key. */}}

{{/* (dict "root" $ "name" "parser" "svc" $svc) */}}
{{- define "mailpipe.validateService" -}}
{{- $name := .name -}}
{{- $svc := .svc -}}
{{- $a := $svc.autoscaling -}}
{{- if not $svc.args -}}
{{- fail (printf "services.%s.args: the mailpipe command to run, e.g. [run, %s]" $name $name) -}}
{{- end -}}
{{- if and (has $a.mode (list "hpa" "kafka-lag" "prometheus")) (gt (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- fail (printf "services.%s.autoscaling: minReplicas %v is above maxReplicas %v" $name $a.minReplicas $a.maxReplicas) -}}
{{- end -}}
{{- if and (eq $a.mode "hpa") (lt (int $a.minReplicas) 1) -}}
{{- fail (printf "services.%s.autoscaling.minReplicas: %v, but an HPA cannot scale to zero (use mode kafka-lag or prometheus: KEDA can)" $name $a.minReplicas) -}}
{{- end -}}
{{- if and (eq $a.mode "kafka-lag") (not $svc.consumer) -}}
{{- fail (printf "services.%s.autoscaling.mode kafka-lag: the service consumes no topic (services.%s.consumer)" $name $name) -}}
{{- end -}}
{{- if and (eq $a.mode "kafka-lag") (not .root.Values.kafkaTls.secretName) -}}
{{- /* KEDA's kafka scaler reads its CA from a TriggerAuthentication, never from the pods' files:
a CA given only as a file path would leave the scaler unable to reach the brokers */ -}}
{{- $own := ((($svc.config | default dict).kafka) | default dict) -}}
{{- if or .root.Values.config.kafka.ssl_ca_file $own.ssl_ca_file -}}
{{- fail (printf "services.%s.autoscaling.mode kafka-lag: the Kafka CA is given as config.kafka.ssl_ca_file, which KEDA cannot read; give it as kafkaTls.secretName instead" $name) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $a.mode "prometheus") (or (not $a.prometheus.serverAddress) (not $a.prometheus.query)) -}}
{{- fail (printf "services.%s.autoscaling.prometheus: serverAddress and query are required for mode prometheus" $name) -}}
{{- end -}}
{{- if and $svc.consumer $svc.consumer.topic -}}
{{- /* a consumer group never has more busy members than its topic has partitions */ -}}
{{- $partitions := include "mailpipe.partitions" (dict "root" .root "name" $name "topic" $svc.consumer.topic) | int -}}
{{- $most := ternary (int $svc.replicas) (int $a.maxReplicas) (eq $a.mode "fixed") -}}
{{- if gt $most $partitions -}}
{{- fail (printf "services.%s.%s: %d replicas, but topic %s has %d partitions (the extra consumers would idle)" $name (ternary "replicas" "autoscaling.maxReplicas" (eq $a.mode "fixed")) $most $svc.consumer.topic $partitions) -}}
{{- end -}}
{{- end -}}
{{- range $svc.secrets -}}
{{- if and (not $.root.Values.secrets.existingSecret) (not (index $.root.Values.secrets.values .)) -}}
{{- fail (printf "secrets.values.%s: needed by services.%s (or set secrets.existingSecret)" . $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mailpipe.validateGlobal" -}}
{{- if not .Values.config.kafka.bootstrap_servers -}}
{{- fail "config.kafka.bootstrap_servers: required (host:port,...)" -}}
{{- end -}}
{{- if and (hasPrefix "SASL" (toString (.Values.config.kafka.security_protocol | default ""))) (not .Values.secrets.existingSecret) (or (not .Values.secrets.values.kafkaSaslUsername) (not .Values.secrets.values.kafkaSaslPassword)) -}}
{{- fail "secrets.values.kafkaSaslUsername and kafkaSaslPassword: needed for config.kafka.security_protocol SASL_* (or set secrets.existingSecret)" -}}
{{- end -}}
{{- $tls := .Values.kafkaTls -}}
{{- if $tls.secretName -}}
{{- /* the chart sets the files' paths; a second path, top-level or per service, would be ignored */ -}}
{{- $configs := dict "config" .Values.config "serviceDefaults.config" .Values.serviceDefaults.config -}}
{{- range $name, $svc := .Values.services -}}
{{- $_ := set $configs (printf "services.%s.config" $name) (($svc | default dict).config) -}}
{{- end -}}
{{- range $where, $config := $configs -}}
{{- $kafka := (($config | default dict).kafka | default dict) -}}
{{- range $field := list "ssl_ca_file" "ssl_cert_file" "ssl_key_file" -}}
{{- if index $kafka $field -}}
{{- fail (printf "%s.kafka.%s: set by the chart from kafkaTls (leave it out; kafkaTls.keys names the file)" $where $field) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if ne (empty $tls.keys.cert) (empty $tls.keys.key) -}}
{{- fail "kafkaTls.keys.cert and kafkaTls.keys.key: mutual TLS needs both (or neither)" -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.topics.mode "strimzi") (not .Values.topics.strimzi.cluster) -}}
{{- fail "topics.strimzi.cluster: the Strimzi Kafka cluster's name is required for topics.mode strimzi" -}}
{{- end -}}
{{- end -}}
