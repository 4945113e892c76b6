"""bench/match_state: the matcher's state store, one PostgreSQL transaction per email against one per
poll batch (issue 13).

``small_corpus`` emails (bench/_common.py) are parsed once (not timed) and spread over 8 mailboxes
the way one ``mail.parsed`` partition holds several; every mailbox converts to cases, distributes
them round-robin over a team and has an autoresponse rule (the most state per email). Then, each
variant in its own scratch database and in poll order:

- ``per email``: ``Matcher.match`` one email at a time (StateStore.decide_once: a transaction of
  5-7 statements per email, as before issue 13);
- ``savepoints``: a batch in one transaction, each email still reading and writing its own rows
  (decide_once's statements under a savepoint): the alternative to reading the batch at once;
- ``per batch``: ``Matcher.match_batch`` (StateStore.decide_batch: lock, one read per table,
  decisions in memory, one pipelined write per table, one commit);
- ``rules only``: ``decide`` against a state view with nothing recorded (bench/match.py's NoState):
  the rules' own cost, the floor no store can beat.

Prints emails/s and the ratios to ``per email``. Needs MAILPIPE_POSTGRES__DSN (the local stack).
Run: ``.venv/bin/python bench/match_state.py [--emails N] [--batch 100]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import psycopg  # noqa: E402
from mailpipe.common.adapters.postgres_errors import postgres_boundary  # noqa: E402
from mailpipe.common.errors import PoisonMessage  # noqa: E402
from mailpipe.common.messages import (  # noqa: E402
    AutoresponseRule,
    Entity,
    MailboxConfig,
    MailboxOptions,
    ParsedEmail,
    ProcessingAction,
    Sighting,
)
from mailpipe.devtools.scratchdb import scratch_database  # noqa: E402
from mailpipe.matcher.batch import Pending  # noqa: E402
from mailpipe.matcher.decide import Decision, decide  # noqa: E402
from mailpipe.matcher.directory import EntityIndex  # noqa: E402
from mailpipe.matcher.follower import Mailboxes  # noqa: E402
from mailpipe.matcher.pgstate import PostgresState  # noqa: E402
from mailpipe.matcher.stage import Matcher  # noqa: E402
from mailpipe.matcher.state import StateStore  # noqa: E402
from mailpipe.parser.mime import parse_email  # noqa: E402
from match import NoState  # noqa: E402

MAILBOXES, TEAM = 8, "bench-team"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class SavepointState(PostgresState):
    """The batch in one transaction, each email deciding with its own statements (a savepoint each)."""

    def decide_batch(self, items: Sequence[Pending]) -> list[Decision | PoisonMessage]:
        with postgres_boundary():
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            with self._conn.transaction():
                return [self._decide(self._conn, i.mailbox_id, i.email_id, i.at, i.compute, i.generation)
                        for i in items]


def corpus(n: int) -> list[ParsedEmail]:
    out = []
    for i, raw in enumerate(_common.small_corpus(n)):
        sighting = Sighting(mailbox_id=f"bench-{i % MAILBOXES}", folder="INBOX", uidvalidity=1, uid=i + 1)
        out.append(parse_email(raw, sighting, sha256="0"))
    return out


def matcher(state: StateStore) -> Matcher:
    index = EntityIndex()
    for u in range(3):
        index.upsert(Entity(type="user", id=f"bench-u{u}", team_ids=[TEAM]))
    boxes = {f"bench-{m}": MailboxConfig(
        mailbox_id=f"bench-{m}", name="bench", protocol="imap", own_addresses=[f"support{m}@mailpipe.test"],
        options=MailboxOptions(processing=ProcessingAction(action="case", case_distribution="round_robin",
                                                           case_team=TEAM),
                               autoresponse_rules=[AutoresponseRule(name="ack", subject="Re: {subject}",
                                                                    body="Case {case_number}")]))
        for m in range(MAILBOXES)}
    return Matcher(index, Mailboxes(boxes), state, clock=lambda: NOW)


def per_email(m: Matcher, emails: list[ParsedEmail], batch: int) -> list[Decision]:
    return [m.match(e) for e in emails]


def per_batch(m: Matcher, emails: list[ParsedEmail], batch: int) -> list[Decision]:
    out: list[Any] = []
    for n in range(0, len(emails), batch):
        out += m.match_batch([(e, 0) for e in emails[n:n + batch]])
    return out


def rules_only(m: Matcher, emails: list[ParsedEmail], batch: int) -> list[Decision]:
    ctx, view = m._context(), NoState()
    return [decide(e, ctx, view, NOW)[0] for e in emails]


def run(dsn: str, make: Callable[[Callable[[], Any]], StateStore],
        how: Callable[[Matcher, list[ParsedEmail], int], list[Decision]], emails: list[ParsedEmail],
        batch: int) -> tuple[float, list[Decision]]:
    state = make(lambda: psycopg.connect(dsn))
    m = matcher(state)
    started = time.perf_counter()
    decisions = how(m, emails, batch)
    seconds = time.perf_counter() - started
    if isinstance(state, PostgresState):
        state.close()
    return len(emails) / seconds, decisions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--emails", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=100)
    a = ap.parse_args()
    emails = corpus(a.emails)
    variants: list[tuple[str, Callable[..., StateStore], Any, bool]] = [
        ("per email", PostgresState, per_email, True), ("savepoints", SavepointState, per_batch, True),
        ("per batch", PostgresState, per_batch, True), ("rules only", PostgresState, rules_only, False)]
    rates: dict[str, float] = {}
    reference: list[Decision] | None = None
    for name, make, how, needs_db in variants:
        if needs_db:
            with scratch_database(os.environ["MAILPIPE_POSTGRES__DSN"], "bench_match_state") as dsn:
                rate, decisions = run(dsn, make, how, emails, a.batch)
            reference = reference or decisions
            assert decisions == reference, f"{name}: decisions differ from per email"
        else:
            rate, decisions = run("", make, how, emails, a.batch)
        rates[name] = rate
    print(f"matcher state, {len(emails)} small-corpus emails over {MAILBOXES} mailboxes, batch {a.batch}, "
          f"convert to case + round-robin + autoresponse")
    for name, rate in rates.items():
        print(f"  {name:<11} {rate:>9,.0f} emails/s  {1000 / rate:6.3f} ms/email  "
              f"{rate / rates['per email']:5.1f}x per email")


if __name__ == "__main__":
    main()
