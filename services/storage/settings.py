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


class StorageSettings(ServiceSettings):
    postgres: PostgresSettings
    s3: S3Settings
    storage: StorageOptions = StorageOptions()
