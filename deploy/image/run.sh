#!/usr/bin/env bash
# Run the image with the flags the project's machines need (engine.sh says why):
#
#   deploy/image/run.sh [podman run options] IMAGE [mailpipe arguments]
#   deploy/image/run.sh --env-file .state/stack.env -e MAILPIPE_HTTP__PORT=9101 localhost/mailpipe:0.1.0 run parser
#
# The container shares the host's network (services bind 127.0.0.1 by default; set
# MAILPIPE_HTTP__HOST/PORT to reach /metrics and /readyz) and is removed when it stops.
set -euo pipefail
# shellcheck source=deploy/image/engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/engine.sh"
container "$@"
