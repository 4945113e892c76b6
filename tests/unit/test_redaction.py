"""Secrets stay out of settings errors and log lines (the subprocess half is
tests/integration/test_exit_paths.py)."""

from __future__ import annotations

import json
import logging

import pytest
from mailpipe.common import redact
from mailpipe.common.errors import ConfigError
from mailpipe.common.logs import JsonFormatter
from mailpipe.common.settings import PostgresSettings, S3Settings, ServiceSettings, load

SECRET = "pa55-w0rd-XyZ"


@pytest.mark.parametrize("text", [
    f"postgresql://user:{SECRET}@db:5432/x", f'missing "=" after "postgresql//user:{SECRET}@db/x"',
    f"host=db password={SECRET} port=1", f"password='{SECRET}'", f"http://key:{SECRET}@s3:9000/bucket",
])
def test_credentials_in_the_shapes_libraries_print_are_masked_unregistered(text: str) -> None:
    assert SECRET not in redact.redact(text)


@pytest.mark.parametrize(("env", "variable"), [
    ({"MAILPIPE_POSTGRES__DSN": f"postgresql//user:{SECRET}@db/x"}, "MAILPIPE_POSTGRES__DSN"),
    ({"MAILPIPE_POSTGRES__DSN": f"host=db password={SECRET} port"}, "MAILPIPE_POSTGRES__DSN"),
    ({"MAILPIPE_POSTGRES__DSN": f"postgresql://user:{SECRET}@db:port/x"}, "MAILPIPE_POSTGRES__DSN"),
    ({"MAILPIPE_S3__ENDPOINT_URL": f"http://key:{SECRET}@s3:9000"}, "MAILPIPE_S3__ENDPOINT_URL"),
])
def test_a_malformed_setting_names_its_variable_and_never_its_value(monkeypatch: pytest.MonkeyPatch,
                                                                    env: dict[str, str], variable: str) -> None:
    class Settings(ServiceSettings):
        postgres: PostgresSettings
        s3: S3Settings

    monkeypatch.setenv("MAILPIPE_ENV_FILE", "/nonexistent")
    for key, value in {"MAILPIPE_KAFKA__BOOTSTRAP_SERVERS": "k:9092", "MAILPIPE_POSTGRES__DSN": "postgresql://u@db/x",
                       "MAILPIPE_S3__ACCESS_KEY_ID": "a", "MAILPIPE_S3__SECRET_ACCESS_KEY": "b",
                       "MAILPIPE_S3__BUCKET": "c", **env}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as refused:
        load(Settings)
    assert variable in str(refused.value) and SECRET not in str(refused.value)


def test_a_registered_secret_is_masked_in_every_field_but_the_logger_name() -> None:
    redact.register("mailpipe-unit-secret")
    try:
        raise RuntimeError("connect failed with mailpipe-unit-secret")
    except RuntimeError as exc:
        record = logging.LogRecord("mailpipe-unit-secret.x", logging.ERROR, __file__, 1,
                                   "saw %s", ("mailpipe-unit-secret",), (type(exc), exc, exc.__traceback__))
    record.detail = {"nested": ["mailpipe-unit-secret"]}
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "mailpipe-unit-secret.x"
    assert "mailpipe-unit-secret" not in json.dumps({k: v for k, v in line.items() if k != "logger"})
    assert line["traceback"].startswith("Traceback") and "\n" not in JsonFormatter().format(record)


@pytest.mark.timeout(20)
def test_redaction_is_linear_on_a_long_hostile_line() -> None:
    # "(a:" repeated made the user:password pattern quadratic: 7 s at 32 KB, minutes at this size
    line = "(a:" * 45_000 + f" postgresql://u:{SECRET}@db/x"
    assert SECRET not in redact.redact(line)
