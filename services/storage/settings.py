"""Storage settings."""

from __future__ import annotations

from pydantic import Field, SecretStr

from ..common.settings import PostgresSettings, S3Settings, Section, ServiceSettings


class StorageOptions(Section):
    ready_timeout_seconds: float = 30  # how long a record waits for mail.mailboxes to be loaded
    retention_interval_seconds: float = Field(6 * 3600, ge=0)  # 0: no scheduled retention runs
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
