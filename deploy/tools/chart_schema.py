"""The chart's ``values.schema.json`` as data: strict everywhere (``additionalProperties: false``)
so that a mistyped key fails ``helm lint/template/install`` with the key named. Kubernetes-typed
blocks the chart passes through (affinity, a probe's timings, extraEnv's valueFrom, NetworkPolicy
peers) are checked after rendering against the Kubernetes schemas instead."""

from __future__ import annotations

from typing import Any

from chart_settings import SECRETS, config_schema

Schema = dict[str, Any]


def obj(props: Schema, required: list[str] | None = None, description: str | None = None) -> Schema:
    """A closed object: only ``props`` may appear."""
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


def string_map(description: str | None = None) -> Schema:
    schema: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
    if description:
        schema["description"] = description
    return schema


STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
INT0: Schema = {"type": "integer", "minimum": 0}
INT1: Schema = {"type": "integer", "minimum": 1}
QUANTITY: Schema = {"type": ["string", "number"]}
K8S_OBJECT: Schema = {"type": "object", "description": "a Kubernetes object of the named type "
                      "(checked against the Kubernetes schema after rendering)"}
RESOURCES = obj({k: obj({r: QUANTITY for r in ("cpu", "memory", "ephemeral-storage")})
                 for k in ("requests", "limits")})
TOLERATION = obj({"key": STR, "operator": {"enum": ["Exists", "Equal"]}, "value": STR,
                  "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute", ""]},
                  "tolerationSeconds": {"type": "integer"}})
ENV_VAR = obj({"name": STR, "value": STR, "valueFrom": K8S_OBJECT}, required=["name"])
POD_SECURITY = obj({
    "runAsNonRoot": BOOL, "runAsUser": INT0, "runAsGroup": INT0, "fsGroup": INT0,
    "fsGroupChangePolicy": {"enum": ["OnRootMismatch", "Always"]},
    "supplementalGroups": {"type": "array", "items": INT0},
    "seccompProfile": obj({"type": {"enum": ["RuntimeDefault", "Localhost"]}, "localhostProfile": STR}),
})
CONTAINER_SECURITY = obj({
    "allowPrivilegeEscalation": BOOL, "readOnlyRootFilesystem": BOOL, "runAsNonRoot": BOOL,
    "runAsUser": INT0, "runAsGroup": INT0, "privileged": BOOL,
    "capabilities": obj({"drop": {"type": "array", "items": STR}, "add": {"type": "array", "items": STR}}),
    "seccompProfile": obj({"type": {"enum": ["RuntimeDefault", "Localhost"]}, "localhostProfile": STR}),
})
PROBE_TIMINGS = obj({"initialDelaySeconds": INT0, "periodSeconds": INT1, "timeoutSeconds": INT1,
                     "failureThreshold": INT1, "startupFailureThreshold": INT1})
AUTOSCALING = obj({
    "mode": {"enum": ["fixed", "hpa", "kafka-lag", "prometheus"],
             "description": "fixed: `replicas`; hpa: CPU; kafka-lag: KEDA on the consumer group's lag; "
                            "prometheus: KEDA on a PromQL query (the fetcher's unfetched messages)"},
    "minReplicas": INT0, "maxReplicas": INT1, "pollingInterval": INT1, "cooldownPeriod": INT0,
    "hpa": obj({"cpuUtilization": {"type": "integer", "minimum": 1, "maximum": 1000}}),
    "kafkaLag": obj({"lagThreshold": {"type": "string", "pattern": "^[0-9]+$"},
                     "activationLagThreshold": {"type": "string", "pattern": "^[0-9]+$"},
                     "offsetResetPolicy": {"enum": ["earliest", "latest"]}}),
    "prometheus": obj({"serverAddress": STR, "query": STR,
                       "threshold": {"type": "string", "pattern": "^[0-9.]+$"},
                       "activationThreshold": {"type": "string", "pattern": "^[0-9.]+$"}}),
})
SERVICE_FIELDS: Schema = {
    "enabled": BOOL,
    "command": {"type": "array", "items": STR},
    "args": {"type": "array", "items": STR, "description": "e.g. [run, parser] or [emails, serve]"},
    "replicas": INT0,
    "resources": RESOURCES,
    "extraEnv": {"type": "array", "items": ENV_VAR},
    "nodeSelector": string_map(),
    "affinity": K8S_OBJECT,
    "tolerations": {"type": "array", "items": TOLERATION},
    "topologySpreadConstraints": {"type": "array", "items": K8S_OBJECT},
    "extraVolumes": {"type": "array", "items": K8S_OBJECT,
                     "description": "Volumes added to the pod (the Kafka CA has its own key: kafkaTls)"},
    "extraVolumeMounts": {"type": "array", "items": K8S_OBJECT},
    "priorityClassName": STR,
    "podAnnotations": string_map(),
    "podLabels": string_map(),
    "terminationGracePeriodSeconds": INT1,
    "preStopSleepSeconds": {"type": "integer", "minimum": 0,
                            "description": "seconds a terminating pod keeps serving before SIGTERM (the read API)"},
    "podDisruptionBudget": obj({"enabled": BOOL, "maxUnavailable": {"type": ["integer", "string"]},
                                "minAvailable": {"type": ["integer", "string", "null"]}}),
    "podSecurityContext": POD_SECURITY,
    "securityContext": CONTAINER_SECURITY,
    "tmpSizeLimit": QUANTITY,
    "http": obj({"port": {"type": "integer", "minimum": 1, "maximum": 65535}, "metrics": BOOL,
                 "livenessPath": STR, "readinessPath": STR}),
    "probes": PROBE_TIMINGS,
    "autoscaling": AUTOSCALING,
    "api": {"type": "boolean", "description": "the read API (`mailpipe emails serve`): its host and port "
                                              "are set from http.port"},
    "consumer": {"type": ["object", "null"], "additionalProperties": False,
                 "properties": {"topic": STR, "group": STR},
                     "description": "the topic this service consumes and its group (default mailpipe-<name>): "
                                "scaling never exceeds the topic's partitions"},
    "secrets": {"type": "array", "items": {"enum": sorted(SECRETS)}, "uniqueItems": True,
                "description": "which secret keys this service's pods get"},
    "service": obj({"enabled": BOOL, "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                    "annotations": string_map()}),
    "config": {"type": "object", "description": "overrides of the top-level config for this service"},
}


def values_schema() -> Schema:
    config = config_schema()
    service = obj(SERVICE_FIELDS)
    service["properties"]["config"] = obj(config, description="overrides of the top-level config")
    job_fields = {"backoffLimit": INT0, "activeDeadlineSeconds": INT1, "resources": RESOURCES,
                  "ttlSecondsAfterFinished": INT0}
    job = obj(job_fields)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "mailpipe chart values (generated by deploy/tools/chart_data.py)",
        **obj({
            "nameOverride": STR, "fullnameOverride": STR,
            "image": obj({"repository": STR, "tag": STR, "digest": STR,
                          "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]}}),
            "imagePullSecrets": {"type": "array", "items": obj({"name": STR}, required=["name"])},
            "serviceAccount": obj({"create": BOOL, "name": STR, "annotations": string_map(),
                                   "automountToken": BOOL}),
            "commonLabels": string_map(),
            "config": obj(config, description="MAILPIPE_* settings by section and field, with the settings' "
                                              "own names; null leaves the code's default"),
            "secrets": obj({
                "existingSecret": {"type": "string", "description": "a Secret you manage; the chart makes none"},
                "keys": obj({k: STR for k in SECRETS}, description="key names in the Secret"),
                "values": obj({k: STR for k in SECRETS},
                              description="only without existingSecret: the chart makes a Secret of them"),
                "annotations": string_map(),
            }),
            "kafkaTls": obj({
                "secretName": {"type": "string", "description": "a Secret with the Kafka CA (and client "
                               "certificate and key): mounted in every pod, given to KEDA's kafka trigger"},
                "keys": obj({k: STR for k in ("ca", "cert", "key")},
                            description="key names in the Secret; empty: that file is not used"),
                "mountPath": {"type": "string", "pattern": "^/"},
            }),
            "serviceDefaults": service,
            "services": {"type": "object", "additionalProperties": service,
                         "propertyNames": {"pattern": "^[a-z][a-z0-9-]{0,30}$"},
                         "description": "one Deployment each; keys are the service names"},
            "migrations": obj({"enabled": BOOL, **job_fields}),
            "topics": obj({
                "mode": {"enum": ["job", "strimzi", "none"]},
                "addPartitions": BOOL,
                "job": job,
                "strimzi": obj({"cluster": STR, "replicas": INT1, "namespace": STR,
                                "config": string_map("broker config added to every topic")}),
            }),
            "serviceMonitor": obj({"enabled": BOOL, "interval": STR, "scrapeTimeout": STR,
                                   "labels": string_map()}),
            "prometheusRule": obj({"enabled": BOOL, "labels": string_map(),
                                    "runbookBaseUrl": {"type": "string", "pattern": "^(https?://\\S+)?$"}}),
            "networkPolicy": obj({"enabled": BOOL,
                                  "ingressFrom": {"type": "array", "items": K8S_OBJECT,
                                                  "description": "NetworkPolicyPeers allowed to reach the "
                                                                 "HTTP ports (metrics, API)"},
                                  "egress": {"type": "array", "items": K8S_OBJECT,
                                             "description": "NetworkPolicyEgressRules; empty: all egress "
                                                            "allowed"}}),
        }, required=["config", "secrets", "services"]),
    }
