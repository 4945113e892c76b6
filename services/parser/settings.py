"""Parser settings."""

from __future__ import annotations

from ..common.settings import S3Settings, ServiceSettings


class ParserSettings(ServiceSettings):
    s3: S3Settings
