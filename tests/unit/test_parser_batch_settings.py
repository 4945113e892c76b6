"""The batch path's settings: read from MAILPIPE_PARSE__IO_*, validated at start naming the
variable, and handed to the stage as its I/O bounds."""

from __future__ import annotations

import pytest
from mailpipe.common.errors import ConfigError
from mailpipe.common.settings import load
from mailpipe.parser.batch import IOBounds
from mailpipe.parser.settings import ParserSettings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("MAILPIPE_ENV_FILE", "/dev/null")  # no stack.env defaults
    for name, value in {"KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9092", "S3__ACCESS_KEY_ID": "k",
                        "S3__SECRET_ACCESS_KEY": "s", "S3__BUCKET": "b"}.items():
        monkeypatch.setenv(f"MAILPIPE_{name}", value)
    return monkeypatch


def test_the_io_bounds_come_from_the_environment(env: pytest.MonkeyPatch) -> None:
    assert load(ParserSettings).parse.io() == IOBounds()
    env.setenv("MAILPIPE_PARSE__IO_THREADS", "8")
    env.setenv("MAILPIPE_PARSE__IO_MAX_BYTES_IN_FLIGHT", "1048576")
    assert load(ParserSettings).parse.io() == IOBounds(threads=8, max_bytes_in_flight=1048576)


@pytest.mark.parametrize(("name", "value"), [("IO_THREADS", "0"), ("IO_THREADS", "11"), ("IO_THREADS", "many"),
                                             ("IO_MAX_BYTES_IN_FLIGHT", "0")])
def test_a_bad_value_stops_the_start_naming_the_variable(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(f"MAILPIPE_PARSE__{name}", value)
    with pytest.raises(ConfigError, match=f"MAILPIPE_PARSE__{name}: "):
        load(ParserSettings)
