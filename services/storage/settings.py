"""Storage settings."""

from __future__ import annotations

from ..common.settings import PostgresSettings, ServiceSettings


class StorageSettings(ServiceSettings):
    postgres: PostgresSettings
