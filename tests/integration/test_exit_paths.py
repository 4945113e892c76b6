"""How a service ends, seen from outside: every line it writes is JSON, the last names the kind of
fault and the variable or dependency at fault with the traceback as a field, and no line holds a
password, whichever setting or dependency message carried it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import stack_env

PASSWORD = "Sup3r-S3cret-pw"


def _run(service: str, **env: str) -> tuple[int, list[dict[str, Any]], str]:
    """``mailpipe run <service>`` with ``env`` over the stack's settings; its exit code, its
    output as JSON objects (the test fails on a line that is not JSON) and the raw output."""
    full = {**os.environ, **env}
    done = subprocess.run([sys.executable, "-m", "mailpipe", "run", service], env=full, capture_output=True,
                          text=True, timeout=120)
    output = done.stdout + done.stderr
    lines = []
    for line in output.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a line that is not JSON: {line!r}\n--- whole output ---\n{output}")
    return done.returncode, lines, output


def _assert_secret_free(output: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in output, f"{secret!r} printed:\n{output}"


@pytest.mark.parametrize("dsn", [
    f"postgresql//mailpipe:{PASSWORD}@127.0.0.1:5432/mailpipe",  # the ':' after the scheme missing
    f"postgresql://mailpipe:{PASSWORD}@127.0.0.1:port/mailpipe",  # a port that is not a number
    f"host=127.0.0.1 password={PASSWORD} port",  # key=value with a key and no value
])
def test_a_malformed_dsn_stops_the_service_naming_the_variable_not_the_password(dsn: str) -> None:
    code, lines, output = _run("matcher", MAILPIPE_POSTGRES__DSN=dsn)
    assert code == 2
    _assert_secret_free(output, PASSWORD)
    assert lines[-1]["error_kind"] == "configuration"
    assert "MAILPIPE_POSTGRES__DSN" in lines[-1]["variables"]


@pytest.mark.parametrize("endpoint", [f"http://access:{PASSWORD}@127.0.0.1:9000", "http//127.0.0.1:9000"])
def test_a_bad_s3_endpoint_stops_the_service_naming_the_variable(endpoint: str) -> None:
    code, lines, output = _run("parser", MAILPIPE_S3__ENDPOINT_URL=endpoint)
    assert code == 2
    _assert_secret_free(output, PASSWORD)
    assert "MAILPIPE_S3__ENDPOINT_URL" in lines[-1]["variables"]


@pytest.mark.s3
def test_wrong_s3_credentials_stop_the_service_at_start_naming_the_variable() -> None:
    code, lines, output = _run("parser", MAILPIPE_S3__SECRET_ACCESS_KEY=PASSWORD)
    assert code == 2
    _assert_secret_free(output, PASSWORD)
    last = lines[-1]
    assert last["error_kind"] == "configuration" and last["dependency"] == "s3"
    assert "MAILPIPE_S3__SECRET_ACCESS_KEY" in last["variables"] and "Traceback" in last["traceback"]


@pytest.mark.postgres
def test_a_refused_postgres_password_never_reaches_the_log() -> None:
    dsn = stack_env("MAILPIPE_POSTGRES__DSN")
    user_host = dsn.split("@", 1)[1]
    code, lines, output = _run("storage", MAILPIPE_POSTGRES__DSN=f"postgresql://mailpipe:{PASSWORD}@{user_host}",
                               MAILPIPE_STORAGE__READY_TIMEOUT_SECONDS="5")
    assert code != 0
    _assert_secret_free(output, PASSWORD)
    assert lines[-1]["level"] == "critical" and lines[-1]["error_kind"] in ("transient", "configuration")


@pytest.mark.kafka
def test_a_kafka_error_escaping_the_service_is_one_json_line_with_the_traceback_as_a_field() -> None:
    code, lines, _ = _run("parser", MAILPIPE_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert code == 1
    last = lines[-1]
    assert last["error_kind"] == "transient" and last["dependency"] == "kafka"
    assert last["traceback"].startswith("Traceback") and "kafka" in last["traceback"]


@pytest.mark.postgres
@pytest.mark.s3
def test_the_fetcher_stops_at_start_on_wrong_s3_credentials_naming_the_variable(pg_dsn: str) -> None:
    code, lines, output = _run("fetcher", MAILPIPE_POSTGRES__DSN=pg_dsn, MAILPIPE_S3__SECRET_ACCESS_KEY=PASSWORD)
    assert code == 2
    _assert_secret_free(output, PASSWORD)
    assert lines[-1]["error_kind"] == "configuration" and lines[-1]["dependency"] == "s3"
    assert "MAILPIPE_S3__SECRET_ACCESS_KEY" in lines[-1]["variables"]
