"""The matcher process: wiring only."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import yaml

from ..common import clients
from ..common.errors import ConfigError
from ..common.health import Health
from ..common.messages import MailFilter
from ..common.service import run_stage
from ..common.settings import load
from .directory import EntityIndex
from .follower import DirectoryFollower, Mailboxes, MailboxFollower
from .pgstate import PostgresState
from .settings import MatcherSettings
from .stage import Matcher, MatchStage


def read_filters(path: Path | None) -> list[MailFilter]:
    """Global filters from a YAML or JSON list (or ``{filters: [...]}``)."""
    if path is None:
        return []
    try:
        doc = yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(path.read_text())
        items = doc.get("filters", []) if isinstance(doc, dict) else doc
        return [MailFilter.model_validate(item) for item in items or []]
    except Exception as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def main() -> int:
    settings = load(MatcherSettings)
    opts = settings.matcher
    index, mailboxes = EntityIndex(), Mailboxes()
    followers = [DirectoryFollower(clients.make_consumer(settings.kafka, group_id=None), index),
                 MailboxFollower(clients.make_consumer(settings.kafka, group_id=None), mailboxes)]
    state = PostgresState(lambda: clients.connect_postgres(settings.postgres))
    matcher = Matcher(index, mailboxes, state, read_filters(opts.global_filters_file), opts.no_files,
                      opts.shared_hosts_match_all)

    def make_stage(health: Health, stop: threading.Event) -> MatchStage:
        for f in followers:
            f.start(stop)
        return MatchStage(matcher, followers, opts.ready_timeout_seconds, opts.matched_topic, opts.autoreply_topic)

    try:
        return run_stage("matcher", settings, [opts.input_topic], make_stage)
    finally:
        state.close()
