"""Fetcher settings: how a replica works. Mailboxes themselves are accounts in PostgreSQL."""

from __future__ import annotations

import os
import socket

from pydantic import Field

from ..common.settings import PostgresSettings, S3Settings, Section, ServiceSettings
from .accounts.secrets import SecretsSettings


class FetchSettings(Section):
    replica_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
                            description="names this replica in leases and runs; default host-pid")
    concurrency: int = Field(4, ge=1, le=256, description="mailboxes this replica reads at once (push ones included)")
    claim_interval_seconds: float = Field(1.0, gt=0, description="how often free slots look for due mailboxes")
    lease_seconds: float = Field(60.0, ge=5, description="lease length; heartbeats renew it every third of it")
    run_time_box_seconds: float = Field(120.0, gt=0, description="a run yields its mailbox after this long")
    batch_size: int = Field(200, gt=0, le=5000, description="messages per FETCH of bodies")
    batch_max_bytes: int = Field(64 * 1024 * 1024, gt=0, description="bytes per FETCH of bodies (memory bound)")
    read_connections: int = Field(2, ge=1, le=8, description="extra IMAP connections reading batches ahead "
                                  "when a run has more than one batch to read")
    max_message_bytes: int = Field(50 * 1024 * 1024, gt=0,
                                   description="size gate: larger messages are published header-only")
    claim_check_bytes: int = Field(512 * 1024, gt=0, description="raw mail above this goes to S3 first")
    timeout_seconds: float = Field(60.0, gt=0, description="per network operation")
    resync_margin_days: int = Field(2, ge=0, description="date window before the cursor's last date on resync")
    backoff_base_seconds: float = Field(30.0, gt=0)
    backoff_max_seconds: float = Field(3600.0, gt=0)
    raw_topic: str = Field("mail.raw", min_length=1, description="where fetched mail goes (tests and benchmarks "
                           "use their own)")
    idle_reissue_seconds: float = Field(25 * 60.0, gt=0, description="IDLE is re-issued before servers drop it")


class FetcherSettings(ServiceSettings):
    postgres: PostgresSettings
    s3: S3Settings
    secrets: SecretsSettings
    fetch: FetchSettings = FetchSettings()
