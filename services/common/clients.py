"""The only factories for Kafka, PostgreSQL and S3 clients.

Every service gets its clients here, so configuration (acks, idempotence, checksums, timeouts)
is decided once, and the tests can block any backend a test did not declare.
"""

from __future__ import annotations

from typing import Any

from .settings import KafkaSettings, PostgresSettings, S3Settings


def make_consumer(settings: KafkaSettings, group_id: str | None, **overrides: Any) -> Any:
    """A kafka-python KafkaConsumer with auto-commit off (``consumer_config``). Blocks until
    bootstrapped; raises kafka.errors.NoBrokersAvailable when no broker answers."""
    from kafka import KafkaConsumer

    return KafkaConsumer(**{**consumer_config(settings, group_id), **overrides})


def consumer_config(settings: KafkaSettings, group_id: str | None) -> dict[str, Any]:
    """kafka-python consumer options for ``settings``. Pure."""
    return dict(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=settings.client_id,
        **kafka_security(settings),
        group_id=group_id,
        enable_auto_commit=False,  # kafka-python's default is True: offsets would run ahead of outputs
        auto_offset_reset="earliest",
        fetch_min_bytes=settings.fetch_min_bytes,
        fetch_max_wait_ms=round(settings.fetch_max_wait_seconds * 1000),
        max_partition_fetch_bytes=settings.max_partition_fetch_bytes,
        fetch_max_bytes=max(settings.max_request_bytes, 52428800),
        request_timeout_ms=int(settings.request_timeout_seconds * 1000) + 5000,
        session_timeout_ms=10000,
        heartbeat_interval_ms=3000,
        max_poll_interval_ms=300000,
    )


def make_producer(settings: KafkaSettings, **overrides: Any) -> Any:
    """A kafka-python KafkaProducer with acks=all and idempotence (``producer_config``). Blocks
    until bootstrapped; raises kafka.errors.NoBrokersAvailable when no broker answers."""
    from kafka import KafkaProducer

    return KafkaProducer(**{**producer_config(settings), **overrides})


def producer_config(settings: KafkaSettings) -> dict[str, Any]:
    """kafka-python producer options for ``settings``: acks=all and idempotence (safe retries, no
    reordering), batching and compression as configured. Pure."""
    return dict(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=settings.client_id,
        **kafka_security(settings),
        acks="all",
        enable_idempotence=True,
        max_request_size=settings.max_request_bytes,
        request_timeout_ms=int(settings.request_timeout_seconds * 1000),
        linger_ms=round(settings.linger_seconds * 1000),
        batch_size=settings.producer_batch_bytes,
        compression_type=None if settings.compression_type == "none" else settings.compression_type,
    )


def make_admin(settings: KafkaSettings) -> Any:
    """A kafka-python KafkaAdminClient."""
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id=settings.client_id,
                            request_timeout_ms=int(settings.request_timeout_seconds * 1000),
                            **kafka_security(settings))


def kafka_security(settings: KafkaSettings) -> dict[str, Any]:
    """kafka-python's TLS and SASL options for ``settings`` (nothing for plaintext). Pure."""
    config: dict[str, Any] = {"security_protocol": settings.security_protocol}
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        config.update(ssl_cafile=settings.ssl_ca_file, ssl_check_hostname=settings.ssl_check_hostname,
                      ssl_certfile=settings.ssl_cert_file, ssl_keyfile=settings.ssl_key_file)
    if settings.security_protocol.startswith("SASL") and settings.sasl_password is not None:
        config.update(sasl_mechanism=settings.sasl_mechanism, sasl_plain_username=settings.sasl_username,
                      sasl_plain_password=settings.sasl_password.get_secret_value())
    return config


def connect_postgres(settings: PostgresSettings, autocommit: bool = False) -> Any:
    """A psycopg 3 connection. Blocks while connecting; raises psycopg.OperationalError."""
    import psycopg

    return psycopg.connect(settings.dsn.get_secret_value(), autocommit=autocommit,
                           connect_timeout=settings.connect_timeout_seconds)


def make_s3(settings: S3Settings) -> Any:
    """A boto3 S3 client for S3-compatible stores: path-style addressing, checksums only when
    required (boto3 ≥ 1.36's default checksums are rejected by several S3-compatible servers)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key.get_secret_value(),
        region_name=settings.region,
        config=Config(s3={"addressing_style": settings.addressing_style},
                      retries={"max_attempts": 3, "mode": "standard"},
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required",
                      connect_timeout=5, read_timeout=60),
    )
