#!/usr/bin/env bash
# Builds a real kube-apiserver, kubectl and etcd, pinned by deploy/k8s/go.mod, once into
# ~/.cache/mailpipe/bin (idempotent: a binary whose stamp - versions, go.sum and flags - matches
# is kept). Used by tests/deploy/test_chart_install.py; nothing is downloaded but Go modules.
# Cold: ~11 min and a ~6 GB Go build cache (droppable afterwards with `go clean -cache`).
#
#   deploy/k8s/build.sh [kube-apiserver|kubectl|etcd|all]...   build (default: all)
#   deploy/k8s/build.sh replaces                               print go.mod's replace block
set -euo pipefail

K8S_VERSION=v1.37.2
K8S_MAJOR=1
K8S_MINOR=37
ETCD_VERSION=v3.7.0

CACHE="${MAILPIPE_CACHE:-$HOME/.cache/mailpipe}"
BIN="$CACHE/bin"
STAMPS="$CACHE/stamps"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$BIN" "$STAMPS"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { printf '%s k8s/build: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# k8s.io/kubernetes replaces its staging modules with ./staging paths, which Go ignores when it
# is a dependency: our go.mod replaces each with its published v0.<minor>.<patch> version.
replaces() {
  local mod
  mod="$(cd "$HERE" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  echo 'replace ('
  awk -v v="v0.${K8S_VERSION#v1.}" '/=> \.\/staging/ {print "\t" $1 " => " $1 " " v}' "$mod"
  echo ')'
}

# Without these the binaries report v0.0.0 and Helm's kubeVersion checks fail against them.
K8S_LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  K8S_LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$K8S_MAJOR -X $pkg.gitMinor=$K8S_MINOR"
  K8S_LDFLAGS+=" -X $pkg.gitTreeState=clean"
done

# build NAME PACKAGE LDFLAGS: go build PACKAGE into $BIN/NAME unless its stamp is current.
build() {
  local name=$1 pkg=$2 ldflags=$3 stamp
  stamp="$K8S_VERSION $ETCD_VERSION $(sha256sum "$HERE/go.sum" | cut -c1-16) $ldflags"
  if [[ -x "$BIN/$name" && -f "$STAMPS/$name" && "$(cat "$STAMPS/$name")" == "$stamp" ]]; then
    return 0
  fi
  log "building $name ($pkg)"
  local start=$SECONDS
  (cd "$HERE" && nice -n 10 go build -ldflags "$ldflags" -o "$BIN/$name.tmp" "$pkg")
  mv "$BIN/$name.tmp" "$BIN/$name"
  echo "$stamp" >"$STAMPS/$name"
  log "built $name in $((SECONDS - start)) s"
}

targets=("$@")
[[ ${#targets[@]} -eq 0 || " ${targets[*]} " == *" all "* ]] && targets=(kube-apiserver kubectl etcd)
for t in "${targets[@]}"; do
  case "$t" in
    kube-apiserver) build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$K8S_LDFLAGS" ;;
    kubectl) build kubectl k8s.io/kubernetes/cmd/kubectl "$K8S_LDFLAGS" ;;
    etcd) build etcd ./etcd "-s -w" ;;
    replaces) replaces ;;
    *) echo "k8s/build: unknown target $t" >&2; exit 2 ;;
  esac
done
