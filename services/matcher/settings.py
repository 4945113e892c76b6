"""The matcher's settings: ``MAILPIPE_MATCHER__*`` plus the shared sections."""

from __future__ import annotations

from pathlib import Path

from ..common.settings import PostgresSettings, Section, ServiceSettings
from ..common.topics import AUTOREPLY, MATCHED, PARSED


class MatcherOptions(Section):
    global_filters_file: Path | None = None  # YAML/JSON list of MailFilter applied to every mailbox
    templates_file: Path | None = None  # YAML/JSON catalogue of response templates (``templates: [...]``)
    no_files: bool = False  # the global "no files" switch (reference 000): never copy attachments
    shared_hosts_match_all: bool = False  # a host name several companies share matches all of them
    ready_timeout_seconds: float = 120.0  # how long to wait for the directory before retrying
    # The topics (tests give each run its own; a deployment keeps the defaults)
    input_topic: str = PARSED
    matched_topic: str = MATCHED
    autoreply_topic: str = AUTOREPLY


class MatcherSettings(ServiceSettings):
    postgres: PostgresSettings
    matcher: MatcherOptions = MatcherOptions()
