# shellcheck shell=bash
# The fixed flags podman and buildah need on the project's machines (see STACK.md "Deploy tooling"),
# sourced by build.sh and run.sh so the build and every run share one image store.
#  - vfs storage: overlay needs kernel or fuse support the sandbox may not give; buildah and podman
#    must agree on the driver or podman does not see what buildah built.
#  - runc with cgroupfs: crun refuses the hybrid cgroup layout.
#  - explicit rlimits: the defaults exceed the hard limits here and the container fails to start.
#  - host network (services bind 127.0.0.1): podman's CNI bridge leaves interfaces and iptables
#    chains behind.
engine() { podman --storage-driver vfs "$@"; }
builder() { buildah --storage-driver vfs "$@"; }
# `container [podman run options] IMAGE [arguments]`: a container that is removed when it stops.
container() {
    engine --runtime runc --cgroup-manager cgroupfs run --rm --network host \
        --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$@"
}
