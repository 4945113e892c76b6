"""`make up` on a running stack changes nothing: same processes, same ports, same env file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.s3
@pytest.mark.imap
def test_second_up_changes_nothing() -> None:
    state = Path(os.environ.get("MAILPIPE_STACK_STATE_DIR", REPO / ".state"))
    env_before = (state / "stack.env").read_text()
    pids_before = {p.name: p.read_text() for p in state.rglob("*.pid")}
    result = subprocess.run([sys.executable, "-m", "mailpipe_stack", "up"], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "deploy/local")}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "already running, nothing changed" in result.stdout
    assert (state / "stack.env").read_text() == env_before
    assert {p.name: p.read_text() for p in state.rglob("*.pid")} == pids_before
