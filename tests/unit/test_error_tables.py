"""Each adapter's table, class by class, against the libraries' real exception types; and the
runtime acting on the kinds: transient retried then stopped, configuration stopped at once,
poison dead-lettered. The integration half (the same exceptions raised by the real servers) is in
tests/integration/test_dependency_faults.py."""

from __future__ import annotations

import psycopg
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from kafka import errors as kafka_errors
from mailpipe.common.adapters import translate
from mailpipe.common.errors import ConfigError, DependencyConfigError, PoisonMessage, TransientError
from mailpipe.common.runtime.loop import Stage, StageRunner
from mailpipe.common.runtime.ports import Output, Record
from mailpipe.common.settings import RuntimeSettings
from psycopg import errors as pg

from tests.support.harness import MemoryHarness


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"server says {code}"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


@pytest.mark.parametrize(("code", "status"), [
    ("500", 500), ("502", 502), ("503", 503), ("504", 504), ("InternalError", 500),
    ("ServiceUnavailable", 503), ("SlowDown", 503), ("RequestTimeout", 400), ("SomethingNew", 500),
])
def test_s3_server_trouble_is_transient(code: str, status: int) -> None:
    assert isinstance(translate(client_error(code, status)), TransientError)


@pytest.mark.parametrize("exc", [
    EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    ConnectionClosedError(endpoint_url="http://127.0.0.1:1"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ResponseStreamingError(error="reset"),
])
def test_s3_connection_failures_are_transient(exc: Exception) -> None:
    assert isinstance(translate(exc), TransientError)


@pytest.mark.parametrize(("code", "status", "variable"), [
    ("403", 403, "MAILPIPE_S3__SECRET_ACCESS_KEY"),
    ("AccessDenied", 403, "MAILPIPE_S3__ACCESS_KEY_ID"),
    ("InvalidAccessKeyId", 403, "MAILPIPE_S3__ACCESS_KEY_ID"),
    ("SignatureDoesNotMatch", 403, "MAILPIPE_S3__SECRET_ACCESS_KEY"),
    ("NoSuchBucket", 404, "MAILPIPE_S3__BUCKET"),
    ("UnknownButForbidden", 403, "MAILPIPE_S3__ACCESS_KEY_ID"),
])
def test_s3_refusing_who_we_are_is_a_configuration_error_naming_the_variable(code: str, status: int,
                                                                            variable: str) -> None:
    kind = translate(client_error(code, status))
    assert isinstance(kind, DependencyConfigError)
    assert kind.dependency == "s3" and variable in kind.variables and variable in str(kind)


def test_s3_missing_credentials_are_configuration() -> None:
    assert isinstance(translate(NoCredentialsError()), DependencyConfigError)


@pytest.mark.parametrize("code", ["NoSuchKey", "EntityTooLarge", "KeyTooLongError"])
def test_s3_one_bad_object_is_poison(code: str) -> None:
    assert isinstance(translate(client_error(code, 400)), PoisonMessage)


@pytest.mark.parametrize("code", ["InvalidRequest", "InvalidArgument", "KMS.DisabledException", "SomethingNew"])
def test_s3_other_refusals_stop_the_stage_instead_of_dead_lettering_every_record(code: str) -> None:
    # content-addressed objects: an unknown 4xx (Object Lock wanting Content-MD5, a KMS key) refuses all alike
    assert isinstance(translate(client_error(code, 400)), DependencyConfigError)


@pytest.mark.parametrize("code", ["BadDigest", "InvalidDigest"])
def test_s3_bytes_damaged_on_the_way_are_transient(code: str) -> None:
    assert isinstance(translate(client_error(code, 400)), TransientError)


@pytest.mark.parametrize("cls", [pg.ProgramLimitExceeded, pg.StatementTooComplex, psycopg.DataError,
                                 pg.CharacterNotInRepertoire, pg.NumericValueOutOfRange, pg.UntranslatableCharacter,
                                 pg.StringDataRightTruncation, pg.UniqueViolation, pg.NotNullViolation])
def test_postgres_values_one_record_brings_are_poison(cls: type[Exception]) -> None:
    kind = translate(cls("refused"))
    assert isinstance(kind, PoisonMessage) and kind.reason == "database_refused"


@pytest.mark.parametrize("cls", [psycopg.OperationalError, pg.SerializationFailure, pg.DeadlockDetected,
                                 pg.AdminShutdown, pg.CannotConnectNow, pg.TooManyConnections, pg.QueryCanceled,
                                 pg.ConnectionFailure, psycopg.InterfaceError, pg.LockNotAvailable])
def test_postgres_connection_and_concurrency_failures_are_transient(cls: type[Exception]) -> None:
    assert isinstance(translate(cls("away")), TransientError)


@pytest.mark.parametrize("cls", [pg.InvalidPassword, pg.InvalidAuthorizationSpecification, pg.InvalidCatalogName,
                                 pg.UndefinedTable, pg.InsufficientPrivilege])
def test_postgres_refusing_the_configuration_names_the_dsn(cls: type[Exception]) -> None:
    kind = translate(cls("no"))
    assert isinstance(kind, DependencyConfigError) and kind.variables == ("MAILPIPE_POSTGRES__DSN",)


@pytest.mark.parametrize("cls", [kafka_errors.KafkaTimeoutError, kafka_errors.KafkaConnectionError,
                                 kafka_errors.NotLeaderForPartitionError, kafka_errors.RequestTimedOutError,
                                 kafka_errors.CommitFailedError, kafka_errors.UnknownTopicOrPartitionError,
                                 kafka_errors.NodeNotReadyError])
def test_kafka_retriable_failures_are_transient(cls: type[Exception]) -> None:
    assert isinstance(translate(cls()), TransientError)


def test_kafka_record_too_large_is_poison() -> None:
    kind = translate(kafka_errors.MessageSizeTooLargeError())
    assert isinstance(kind, PoisonMessage) and kind.reason == "record_too_large"


@pytest.mark.parametrize("cls", [kafka_errors.TopicAuthorizationFailedError, kafka_errors.GroupAuthorizationFailedError,
                                 kafka_errors.SaslAuthenticationFailedError])
def test_kafka_authorization_is_configuration(cls: type[Exception]) -> None:
    assert isinstance(translate(cls()), DependencyConfigError)


@pytest.mark.parametrize("cls, variables", [
    (kafka_errors.InvalidReplicationFactorError, ("MAILPIPE_KAFKA__TOPIC_REPLICATION_FACTOR",)),
    (kafka_errors.InvalidPartitionsError, ()), (kafka_errors.InvalidConfigurationError, ()),
    (kafka_errors.PolicyViolationError, ())])
def test_kafka_topic_administration_refusals_are_configuration(cls: type[Exception],
                                                              variables: tuple[str, ...]) -> None:
    """kafka-python calls some of these retriable; no retry makes a broker accept them."""
    kind = translate(cls())
    assert isinstance(kind, DependencyConfigError) and kind.variables == variables


def test_a_bug_is_not_a_dependency_error() -> None:
    assert translate(KeyError("x")) is None and translate(ValueError("x")) is None


# The runtime acting on the kinds.
FAST = RuntimeSettings(retry_attempts=3, retry_backoff_seconds=0.0, dlq_min_records=50, poll_timeout_seconds=0.1)


class Failing(Stage):
    """Raises ``exc`` for the value ``bad``; echoes everything else to ``out``."""

    name = "failing"

    def __init__(self, out: str, exc: Exception) -> None:
        self.out, self.exc, self.calls = out, exc, 0

    def handle(self, record: Record) -> list[Output]:
        if record.value == b"bad":
            self.calls += 1
            raise self.exc
        return [Output(self.out, record.key, record.value)]


def _run(exc: Exception) -> tuple[MemoryHarness, Failing, BaseException | None]:
    h = MemoryHarness()
    for topic in ("in", "out", "in.dlq"):
        h.create_topic(topic)
    for value in (b"ok1", b"bad", b"ok2"):
        h.produce("in", b"k", value)
    stage = Failing("out", exc)
    runner = StageRunner(stage, h.consumer("g", ["in"]), h.producer(), FAST, sleep=lambda s: None)
    try:
        while runner.run_once():
            pass
    except Exception as raised:
        return h, stage, raised
    return h, stage, None


@pytest.mark.parametrize("exc", [client_error("503", 503), client_error("SlowDown", 503),
                                 ReadTimeoutError(endpoint_url="http://s3")])
def test_an_s3_outage_is_retried_then_stops_the_stage_without_dead_letters(exc: Exception) -> None:
    h, stage, raised = _run(exc)
    assert isinstance(raised, TransientError)
    assert stage.calls == FAST.retry_attempts
    assert h.read_all("in.dlq") == [] and h.committed("g", "in") is None


@pytest.mark.parametrize("exc", [client_error("InvalidAccessKeyId", 403), client_error("SignatureDoesNotMatch", 403),
                                 client_error("NoSuchBucket", 404), pg.InvalidPassword("no")])
def test_a_refused_configuration_stops_the_stage_at_once_without_dead_letters(exc: Exception) -> None:
    h, stage, raised = _run(exc)
    assert isinstance(raised, ConfigError)
    assert stage.calls == 1
    assert h.read_all("in.dlq") == [] and h.committed("g", "in") is None


def test_a_value_over_a_postgres_limit_is_dead_lettered_and_the_next_record_goes_through() -> None:
    h, stage, raised = _run(pg.ProgramLimitExceeded("index row size 10040 exceeds btree version 4 maximum 2704"))
    assert raised is None and stage.calls == 1
    dead = h.read_all("in.dlq")
    assert [r.value for r in dead] == [b"bad"] and dict(dead[0].headers)["dlq-reason"] == b"database_refused"
    assert [r.value for r in h.read_all("out")] == [b"ok1", b"ok2"]


# IMAP and POP3: the fetcher's connect.translate turns each into a MailboxUnavailable of a kind and
# the account field to check; the mailbox backs off (others go on), a message the server cannot
# deliver is dead-lettered alone (message_unreadable), and nothing reaches the consuming stages.
def _imap_account():  # type: ignore[no-untyped-def]
    from mailpipe.fetcher.accounts.model import Account

    return Account.model_validate({"id": "m", "server": "imap.example", "username": "u", "security": "tls"})


def _imap_cases() -> list[tuple[BaseException, str, str]]:
    import imaplib
    import socket
    import ssl

    from imapclient.exceptions import IMAPClientAbortError, LoginError

    return [
        (socket.gaierror(-2, "Name or service not known"), "host_unknown", "server"),
        (ConnectionRefusedError(111, "refused"), "connection_refused", "port"),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), "certificate_untrusted", "ca_file"),
        (ssl.SSLError(1, "wrong version number"), "tls_handshake", "security"),
        (TimeoutError(), "timeout", "server"),
        (imaplib.IMAP4.error("FETCH failed: internal error"), "message_unreadable", "server"),
        (imaplib.IMAP4.abort("socket error: EOF"), "connection_lost", "server"),
        (ConnectionResetError(104, "reset"), "connection_lost", "server"),
        (BrokenPipeError(32, "broken pipe"), "connection_lost", "server"),
        (EOFError(), "connection_lost", "server"),
        (OSError(113, "no route to host"), "connection_lost", "server"),
        (LoginError("[AUTHENTICATIONFAILED] Authentication failed."), "auth_failed", "password"),
        (IMAPClientAbortError("connection closed"), "connection_lost", "server"),
        (imaplib.IMAP4.error("BAD unexpected response"), "protocol", "server"),
    ]


@pytest.mark.parametrize("case", _imap_cases(), ids=lambda c: type(c[0]).__name__)
def test_imap_and_pop3_failures_name_their_kind_and_the_account_field(case: tuple[BaseException, str, str]) -> None:
    from mailpipe.fetcher.connect import translate as translate_mailbox
    from mailpipe.fetcher.errors import MailboxUnavailable

    exc, kind, field = case
    failure = translate_mailbox(exc, _imap_account())
    assert isinstance(failure, MailboxUnavailable) and isinstance(failure, TransientError)
    assert (failure.kind, failure.field) == (kind, field)


def test_a_sasl_refusal_names_the_sasl_variables() -> None:
    kind = translate(kafka_errors.SaslAuthenticationFailedError())
    assert isinstance(kind, DependencyConfigError) and "MAILPIPE_KAFKA__SASL_PASSWORD" in kind.variables
