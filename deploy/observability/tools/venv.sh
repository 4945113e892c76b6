#!/bin/sh
# The deploy tools' virtualenv (~/.cache/mailpipe/venv-deploy): the project's own venv plus the
# packages only dashboards-as-code needs, pinned. Idempotent: reinstalls only when the pins change.
set -eu
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
VENV=${MAILPIPE_DEPLOY_VENV:-$HOME/.cache/mailpipe/venv-deploy}
PINS="grafana-foundation-sdk==1769699379!11.6.0"
STAMP="$VENV/.pins"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PINS" ]; then exit 0; fi
python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q $PINS
echo "$PINS" > "$STAMP"
echo "$VENV"
