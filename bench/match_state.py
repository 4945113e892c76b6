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

Prints emails/s, the ratios to ``per email`` and this process's CPU per email (the matcher's
share; PostgreSQL's is the rest of the wall time on an idle machine). Needs MAILPIPE_POSTGRES__DSN (the local stack).
Run: ``.venv/bin/python bench/match_state.py [--emails N] [--batch 100]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import psycopg  # noqa: E402
from mailpipe.common.adapters.postgres_errors import postgres_boundary  # noqa: E402
from mailpipe.common.errors import PoisonMessage  # noqa: E402
from mailpipe.common.mailboxes import Mailboxes  # noqa: E402
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
from mailpipe.matcher.decide import decide  # noqa: E402
from mailpipe.matcher.decision import Decision  # noqa: E402
from mailpipe.matcher.directory import EntityIndex  # noqa: E402
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--emails", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--chunks", type=int, default=10, help="slices the variants take turns on (a busy machine "
                    "slows them alike)")
    a = ap.parse_args()
    emails = corpus(a.emails)
    variants: list[tuple[str, type[PostgresState], Callable[[Matcher, list[ParsedEmail], int], list[Decision]]]] = [
        ("per email", PostgresState, per_email), ("savepoints", SavepointState, per_batch),
        ("per batch", PostgresState, per_batch), ("rules only", PostgresState, rules_only)]
    seconds = dict.fromkeys((name for name, _, _ in variants), 0.0)
    cpu = dict.fromkeys(seconds, 0.0)  # this process's CPU: the matcher's share of the e2e CPU table
    decided: dict[str, list[Decision]] = {name: [] for name, _, _ in variants}
    with ExitStack() as stack:
        matchers = {}
        for name, store, _ in variants:  # each store in its own database (rules only never connects)
            dsn = stack.enter_context(scratch_database(os.environ["MAILPIPE_POSTGRES__DSN"], "bench_match_state"))
            state = store(partial(psycopg.connect, dsn))
            stack.callback(state.close)
            matchers[name] = matcher(state)
        step = max(a.batch, -(-len(emails) // a.chunks) // a.batch * a.batch)
        for start in range(0, len(emails), step):
            for name, _, how in variants:
                t0, c0 = time.perf_counter(), time.process_time()
                decided[name] += how(matchers[name], emails[start:start + step], a.batch)
                seconds[name] += time.perf_counter() - t0
                cpu[name] += time.process_time() - c0
    for name in ("savepoints", "per batch"):
        assert decided[name] == decided["per email"], f"{name}: decisions differ from per email"
    rates = {name: len(emails) / s for name, s in seconds.items()}
    print(f"matcher state, {len(emails)} small-corpus emails over {MAILBOXES} mailboxes, batch {a.batch}, "
          f"convert to case + round-robin + autoresponse")
    for name, rate in rates.items():
        print(f"  {name:<11} {rate:>9,.0f} emails/s  {1000 / rate:6.3f} ms/email  "
              f"{rate / rates['per email']:5.1f}x per email  matcher CPU {1000 * cpu[name] / len(emails):.3f} ms/email")


if __name__ == "__main__":
    main()
