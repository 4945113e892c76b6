"""Production Kafka settings against the local broker's SASL_SSL listener (TLS with the stack's
certificate, verified; SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512): the one client factory
produces, consumes and administers through it, and a wrong password is a configuration error that
names the variables, with the password in no message."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from kafka.admin import NewTopic
from mailpipe.common import clients
from mailpipe.common.errors import ConfigError
from mailpipe.common.settings import KafkaSettings

from tests.conftest import stack_env


def _settings(mechanism: str, password: str | None = None) -> KafkaSettings:
    return KafkaSettings.model_validate({
        "bootstrap_servers": stack_env("MAILPIPE_STACK_KAFKA_SASL_SSL_BOOTSTRAP"), "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism, "sasl_username": stack_env("MAILPIPE_STACK_KAFKA_SASL_USERNAME"),
        "sasl_password": password or stack_env("MAILPIPE_STACK_KAFKA_SASL_PASSWORD"),
        "ssl_ca_file": stack_env("MAILPIPE_STACK_TLS_CA"), "request_timeout_seconds": 10})


@pytest.mark.kafka
@pytest.mark.timeout(120)
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_over_tls_produces_and_consumes(mechanism: str, unique: str) -> None:
    from kafka.structs import TopicPartition

    settings, topic = _settings(mechanism), f"t{unique}.sasl"
    admin = clients.make_admin(settings)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    producer = clients.make_producer(settings)
    producer.send(topic, key=b"k", value=mechanism.encode()).get(timeout=30)
    producer.close()
    consumer = clients.make_consumer(settings, None)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        values = [r.value for batch in consumer.poll(timeout_ms=15000).values() for r in batch]
    finally:
        consumer.close()
    assert values == [mechanism.encode()]


_WRONG_LOGIN = """
import json, sys
from mailpipe.common import clients, logs
from mailpipe.common.adapters import translate
from mailpipe.common.settings import KafkaSettings
logs.configure()
settings = KafkaSettings.model_validate(json.loads(sys.argv[1]))
try:
    clients.make_producer(settings).close()
except Exception as exc:
    kind = translate(exc)
    print(json.dumps({"kind": type(kind).__name__, "message": str(kind)}))
"""


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_a_wrong_sasl_password_stops_the_client_and_is_never_printed() -> None:
    # kafka-python 3.0 loses the broker's SASL_AUTHENTICATION_FAILED: the client gives up with
    # "Unable to bootstrap", a transient error (the stage exits 1 and is restarted); a refusal it
    # does report (SaslAuthenticationFailedError) is configuration, as the unit table shows. Run in
    # a process of its own: the client that failed to start leaks its wake-up sockets.
    wrong = "not-the-kafka-password"
    settings = _settings("SCRAM-SHA-512", wrong).model_dump(mode="json")
    settings["sasl_password"] = wrong
    done = subprocess.run([sys.executable, "-c", _WRONG_LOGIN, json.dumps(settings)], capture_output=True,
                          text=True, timeout=100)
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["kind"] in ("TransientError", "DependencyConfigError"), outcome
    assert wrong not in done.stdout.replace(json.dumps(settings), "") and wrong not in done.stderr


def test_sasl_without_credentials_is_refused_when_settings_are_read() -> None:
    with pytest.raises(ValueError, match="MAILPIPE_KAFKA__SASL_USERNAME"):
        KafkaSettings(bootstrap_servers="k:9093", security_protocol="SASL_SSL")
    assert not issubclass(ConfigError, ValueError)  # load() turns the ValueError into ConfigError
