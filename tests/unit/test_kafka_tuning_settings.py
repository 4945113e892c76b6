"""Kafka client tuning settings: compression, linger, batch and fetch sizes are validated when the
settings are read (a wrong codec name, or a codec whose library is missing, stops the service at
start naming the variable) and reach the kafka-python options unchanged."""

from __future__ import annotations

import pytest
from kafka import codec as codecs
from mailpipe.common import clients
from mailpipe.common.errors import ConfigError
from mailpipe.common.settings import KafkaSettings, ServiceSettings, load
from pydantic import ValidationError


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("MAILPIPE_ENV_FILE", "/dev/null")  # no stack.env defaults
    monkeypatch.setenv("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    return monkeypatch


def test_an_unknown_codec_fails_at_start_naming_the_variable_and_the_choices(env: pytest.MonkeyPatch) -> None:
    env.setenv("MAILPIPE_KAFKA__COMPRESSION_TYPE", "brotli")
    with pytest.raises(ConfigError) as raised:
        load(ServiceSettings)
    message = str(raised.value)
    assert "MAILPIPE_KAFKA__COMPRESSION_TYPE" in message
    assert all(name in message for name in ("'none'", "'gzip'", "'lz4'", "'zstd'")), message


@pytest.mark.parametrize(("codec", "check", "package"), [("lz4", "has_lz4", "lz4"), ("zstd", "has_zstd", "zstandard")])
def test_a_codec_whose_library_is_missing_fails_at_start(env: pytest.MonkeyPatch, codec: str, check: str,
                                                        package: str) -> None:
    env.setattr(codecs, check, lambda: False)
    env.setenv("MAILPIPE_KAFKA__COMPRESSION_TYPE", codec)
    with pytest.raises(ConfigError, match=f"MAILPIPE_KAFKA__COMPRESSION_TYPE: .*needs the Python package {package}"):
        load(ServiceSettings)


def test_every_codec_the_settings_offer_is_installed() -> None:
    # a dependency of the package: consumers must decode whatever codec any producer chose
    for codec in ("none", "gzip", "lz4", "zstd"):
        assert KafkaSettings(bootstrap_servers="k:9092", compression_type=codec).compression_type == codec


def test_tuning_values_out_of_range_name_their_variables(env: pytest.MonkeyPatch) -> None:
    env.setenv("MAILPIPE_KAFKA__LINGER_SECONDS", "-1")
    env.setenv("MAILPIPE_KAFKA__FETCH_MIN_BYTES", "0")
    env.setenv("MAILPIPE_KAFKA__FETCH_MAX_WAIT_SECONDS", "60")
    with pytest.raises(ConfigError) as raised:
        load(ServiceSettings)
    lines = str(raised.value).splitlines()
    for name, bound in (("LINGER_SECONDS", "greater than or equal to 0"), ("FETCH_MIN_BYTES", "greater than 0"),
                        ("FETCH_MAX_WAIT_SECONDS", "less than or equal to 10")):
        assert any(f"MAILPIPE_KAFKA__{name}: " in line and bound in line for line in lines), lines


def test_a_producer_batch_above_the_request_limit_is_refused() -> None:
    with pytest.raises(ValidationError, match="MAILPIPE_KAFKA__PRODUCER_BATCH_BYTES"):
        KafkaSettings(bootstrap_servers="k:9092", max_request_bytes=1024 * 1024, producer_batch_bytes=2 * 1024 * 1024)


def test_the_settings_reach_the_producer_options() -> None:
    settings = KafkaSettings(bootstrap_servers="k:9092", compression_type="zstd", linger_seconds=0.02,
                             producer_batch_bytes=256 * 1024)
    config = clients.producer_config(settings)
    assert (config["compression_type"], config["linger_ms"], config["batch_size"]) == ("zstd", 20, 256 * 1024)
    assert (config["acks"], config["enable_idempotence"]) == ("all", True)
    plain = clients.producer_config(KafkaSettings(bootstrap_servers="k:9092", compression_type="none"))
    assert plain["compression_type"] is None  # kafka-python's spelling of no compression


def test_the_settings_reach_the_consumer_options() -> None:
    settings = KafkaSettings(bootstrap_servers="k:9092", fetch_min_bytes=65536, fetch_max_wait_seconds=0.1,
                             max_partition_fetch_bytes=2 * 1024 * 1024)
    config = clients.consumer_config(settings, "group")
    assert (config["fetch_min_bytes"], config["fetch_max_wait_ms"]) == (65536, 100)
    assert config["max_partition_fetch_bytes"] == 2 * 1024 * 1024
    assert (config["group_id"], config["enable_auto_commit"]) == ("group", False)
