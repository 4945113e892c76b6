"""Fetcher settings. The skeleton reads one mailbox from ``MAILPIPE_MAILBOX__*``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from ..common.settings import PostgresSettings, S3Settings, Section, ServiceSettings

DEFAULT_PORTS = {("imap", "tls"): 993, ("imap", "starttls"): 143, ("imap", "none"): 143}


class MailboxSettings(Section):
    id: str = Field(..., pattern=r"^[A-Za-z0-9._@-]+$", description="stable id; part of every sighting key")
    host: str
    port: int | None = Field(None, ge=1, le=65535)
    username: str
    password: SecretStr
    security: Literal["none", "starttls", "tls"] = "tls"
    ca_file: str | None = None
    folders: list[str] = ["INBOX"]

    @model_validator(mode="after")
    def _no_colon_in_folders(self) -> MailboxSettings:
        if any(":" in f for f in self.folders):
            raise ValueError("folder names may not contain ':' (it separates the parts of a sighting key)")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[("imap", self.security)]


class FetchSettings(Section):
    poll_interval_seconds: float = Field(5.0, gt=0)
    batch_size: int = Field(200, gt=0, le=5000)
    claim_check_bytes: int = Field(512 * 1024, gt=0, description="raw mail above this goes to S3 first")
    timeout_seconds: float = Field(60.0, gt=0)


class FetcherSettings(ServiceSettings):
    postgres: PostgresSettings
    s3: S3Settings
    mailbox: MailboxSettings
    fetch: FetchSettings = FetchSettings()
