"""The matcher process: wiring only."""

from __future__ import annotations

import threading

from ..common import clients
from ..common.follower import MailboxFollower
from ..common.health import Health
from ..common.mailboxes import Mailboxes
from ..common.service import run_stage
from ..common.settings import load
from .configfiles import read_filters, read_templates
from .directory import EntityIndex
from .follower import DirectoryFollower
from .matching import Matcher
from .pgstate import PostgresState
from .settings import MatcherSettings
from .stage import MatchStage


def main() -> int:
    settings = load(MatcherSettings)
    opts = settings.matcher
    index, mailboxes = EntityIndex(), Mailboxes()
    followers = [DirectoryFollower(clients.make_consumer(settings.kafka, group_id=None), index),
                 MailboxFollower(clients.make_consumer(settings.kafka, group_id=None), mailboxes)]
    state = PostgresState(lambda: clients.connect_postgres(settings.postgres))
    matcher = Matcher(index, mailboxes, state, read_filters(opts.global_filters_file), opts.no_files,
                      opts.shared_hosts_match_all, templates=read_templates(opts.templates_file))

    def make_stage(health: Health, stop: threading.Event) -> MatchStage:
        for f in followers:
            f.start(stop)
        return MatchStage(matcher, followers, opts.ready_timeout_seconds, opts.matched_topic, opts.autoreply_topic)

    try:
        return run_stage("matcher", settings, [opts.input_topic], make_stage)
    finally:
        state.close()
