#!/usr/bin/env bash
# Builds the pinned deploy tools once into ~/.cache/mailpipe/bin (idempotent: a tool whose
# version stamp matches is kept). CI starts from nothing, so this script is the only way the
# tools get onto a machine; nothing is downloaded except Go modules and PyPI packages.
#
#   deploy/tools/build-tools.sh [helm|controller-gen|kubeconform|crds|venv|all]...
#
# Outputs:
#   ~/.cache/mailpipe/bin/{helm,controller-gen,kubeconform}
#   ~/.cache/mailpipe/crds/*.yaml          CRDs generated from the operators' Go API types
#   ~/.cache/mailpipe/venv-deploy/         Python venv with kubernetes-validate (strict k8s schemas)
set -euo pipefail

HELM_VERSION=v3.22.0
CONTROLLER_GEN_VERSION=v0.20.1
KUBECONFORM_VERSION=v0.8.0
PROMETHEUS_OPERATOR_VERSION=v0.95.2
KEDA_VERSION=v2.21.0
KUBERNETES_VALIDATE_VERSION=1.37.0
# Helm reports this Kubernetes version to charts (.Capabilities.KubeVersion) when no cluster is
# asked; without it Helm believes it is v1.20.0 and kubeVersion constraints fail.
K8S_MAJOR=1
K8S_MINOR=37

CACHE="${MAILPIPE_CACHE:-$HOME/.cache/mailpipe}"
BIN="$CACHE/bin"
STAMPS="$CACHE/stamps"
CRDS="$CACHE/crds"
VENV="$CACHE/venv-deploy"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$BIN" "$STAMPS" "$CRDS"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { printf '%s build-tools: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# fresh NAME STAMP: true when $BIN/NAME exists and was built with the same stamp
fresh() { [[ -x "$BIN/$1" && -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }

build_helm() {
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$K8S_MAJOR -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$K8S_MINOR \
-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$K8S_MAJOR -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$K8S_MINOR"
  local stamp="$HELM_VERSION $ldflags"
  fresh helm "$stamp" && return 0
  log "building helm $HELM_VERSION (cold: ~6 min)"
  GOBIN="$BIN" go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "$stamp" >"$STAMPS/helm"
}

build_controller_gen() {
  fresh controller-gen "$CONTROLLER_GEN_VERSION" && return 0
  log "building controller-gen $CONTROLLER_GEN_VERSION"
  GOBIN="$BIN" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN_VERSION"
  echo "$CONTROLLER_GEN_VERSION" >"$STAMPS/controller-gen"
}

build_kubeconform() {
  fresh kubeconform "$KUBECONFORM_VERSION" && return 0
  log "building kubeconform $KUBECONFORM_VERSION"
  GOBIN="$BIN" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  echo "$KUBECONFORM_VERSION" >"$STAMPS/kubeconform"
}

# CRDs for ServiceMonitor, PrometheusRule, ScaledObject and TriggerAuthentication, generated from the operators' own API
# types so the chart is checked against exactly what those operators' API servers would accept.
build_crds() {
  build_controller_gen
  local stamp="$CONTROLLER_GEN_VERSION $PROMETHEUS_OPERATOR_VERSION $KEDA_VERSION +triggerauthentications"
  if [[ -f "$STAMPS/crds" && "$(cat "$STAMPS/crds")" == "$stamp" ]]; then return 0; fi
  log "generating CRDs (prometheus-operator $PROMETHEUS_OPERATOR_VERSION, keda $KEDA_VERSION)"
  local mod="$CACHE/crd-gen"
  rm -rf "$mod" && mkdir -p "$mod"
  cat >"$mod/go.mod" <<GOMOD
module mailpipe.local/crdgen

go 1.24

require (
	github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring $PROMETHEUS_OPERATOR_VERSION
	github.com/kedacore/keda/v2 $KEDA_VERSION
)
GOMOD
  cat >"$mod/tools.go" <<'GO'
//go:build tools

package crdgen

import (
	_ "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)
GO
  (cd "$mod" && go mod tidy -e >/dev/null 2>&1 || true
   cd "$mod" && GOFLAGS=-mod=mod go mod download \
     github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring github.com/kedacore/keda/v2)
  local out="$mod/out"
  mkdir -p "$out/monitoring" "$out/keda"
  (cd "$mod" && GOFLAGS=-mod=mod "$BIN/controller-gen" crd:crdVersions=v1,allowDangerousTypes=true \
     paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 \
     output:crd:artifacts:config="$out/monitoring")
  (cd "$mod" && GOFLAGS=-mod=mod "$BIN/controller-gen" crd:crdVersions=v1,allowDangerousTypes=true \
     paths=github.com/kedacore/keda/v2/apis/keda/v1alpha1 \
     output:crd:artifacts:config="$out/keda")
  rm -f "$CRDS"/*.yaml
  cp "$out"/monitoring/monitoring.coreos.com_servicemonitors.yaml \
     "$out"/monitoring/monitoring.coreos.com_prometheusrules.yaml \
     "$out"/keda/keda.sh_scaledobjects.yaml "$out"/keda/keda.sh_triggerauthentications.yaml "$CRDS"/
  echo "$stamp" >"$STAMPS/crds"
}

# kubernetes-validate ships strict OpenAPI-derived JSON schemas for Kubernetes 1.25-1.37, offline.
build_venv() {
  local stamp="kubernetes-validate==$KUBERNETES_VALIDATE_VERSION pyyaml"
  if [[ -x "$VENV/bin/python" && -f "$STAMPS/venv-deploy" && "$(cat "$STAMPS/venv-deploy")" == "$stamp" ]]; then
    return 0
  fi
  log "creating $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" pyyaml
  echo "$stamp" >"$STAMPS/venv-deploy"
}

targets=("$@")
[[ ${#targets[@]} -eq 0 || " ${targets[*]} " == *" all "* ]] && targets=(helm crds kubeconform venv)
for t in "${targets[@]}"; do
  case "$t" in
    helm) build_helm ;;
    controller-gen) build_controller_gen ;;
    kubeconform) build_kubeconform ;;
    crds) build_crds ;;
    venv) build_venv ;;
    *) echo "build-tools: unknown target $t" >&2; exit 2 ;;
  esac
done
log "ready: $(ls "$BIN" | tr '\n' ' ')"
