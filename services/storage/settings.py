"""Storage settings."""

from __future__ import annotations

from ..common.settings import PostgresSettings, S3Settings, Section, ServiceSettings


class StorageOptions(Section):
    ready_timeout_seconds: float = 30  # how long a record waits for mail.mailboxes to be loaded


class StorageSettings(ServiceSettings):
    postgres: PostgresSettings
    s3: S3Settings
    storage: StorageOptions = StorageOptions()
