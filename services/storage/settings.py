"""Storage settings."""

from __future__ import annotations

from pydantic import Field, SecretStr

from ..common.settings import PostgresSettings, S3Settings, Section, ServiceSettings
from .unreferenced import DEFAULT_GRACE_SECONDS, DLQ_RETENTION_SECONDS


class StorageOptions(Section):
    ready_timeout_seconds: float = 30  # how long a record waits for mail.mailboxes to be loaded
    retention_interval_seconds: float = Field(6 * 3600, ge=0)  # 0: no scheduled retention runs
    # An object no stored email references (its mail was skipped or dead-lettered) is removed from S3
    # once it stayed unreferenced this long (40 days): longer than a dead letter can wait for its replay
    # (30 days) plus its source topic's retention (7), so a replay still finds its raw message; less than
    # the dead-letter retention is refused.
    unreferenced_grace_seconds: float = Field(DEFAULT_GRACE_SECONDS, ge=DLQ_RETENTION_SECONDS)
    # S3 listing pages (1,000 keys) per prefix (raw/, att/, body/) per retention run; 0: no listing
    unreferenced_sweep_pages: int = Field(100, ge=0)
    # `mailpipe emails serve`: the read-only HTTP API for CRM backends (a bearer token is required)
    api_host: str = "127.0.0.1"
    api_port: int = Field(8086, ge=0, le=65535)
    api_token: SecretStr = SecretStr("")
    api_workers: int = Field(8, ge=1, le=256)  # request threads: the only threads clients can occupy
    # a connection silent this long is closed; a request's line and headers must then arrive within it
    api_socket_timeout_seconds: float = Field(10, gt=0)
    api_max_connections: int = Field(256, ge=1)  # open at once (idle ones cost a descriptor, no thread)
    # after SIGTERM/SIGINT: how long requests in flight may still run before they are cut; keep the
    # pod's terminationGracePeriodSeconds above it (plus any preStop delay)
    api_drain_grace_seconds: float = Field(20, gt=0)
    # /readyz: PostgreSQL must accept a connection and answer SELECT 1 within this (libpq counts whole seconds)
    api_ready_timeout_seconds: int = Field(2, ge=1, le=30)


class StorageSettings(ServiceSettings):
    postgres: PostgresSettings
    s3: S3Settings
    storage: StorageOptions = StorageOptions()
