"""The matcher's one transaction per poll batch against the real PostgreSQL (PostgresState.decide_batch
through Matcher.match_batch and MatchStage.handle_batch): decisions within a batch see each other,
a replayed batch repeats itself, two replicas with overlapping batches keep one case per thread,
and a value PostgreSQL refuses dead-letters only its own record."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
from mailpipe.common.errors import PoisonMessage
from mailpipe.common.messages import ParsedEmail, ParsedEnvelope, encode
from mailpipe.common.runtime.ports import Record
from mailpipe.matcher.decision import Decision
from mailpipe.matcher.pgstate import PostgresState
from mailpipe.matcher.rules.cases import case_id
from mailpipe.matcher.stage import MatchStage

from tests.support.matcher_crash import AUTOREPLY_LIMIT, PER_THREAD, T0, THREADS, crash_emails
from tests.unit.test_matcher_state_batch import BOX, batched, crash_matcher, kinds

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


@pytest.fixture
def state(pg_dsn: str) -> Iterator[PostgresState]:
    s = PostgresState(lambda: psycopg.connect(pg_dsn))
    yield s
    s.close()


def rows(dsn: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def thread(n: int, unique: str = "u") -> list[ParsedEmail]:
    root = f"t{n}-{unique}@customer.example"
    return sorted((e for e in crash_emails(BOX, unique) if e.thread_root == root), key=lambda e: e.internal_date or T0)


def test_the_second_email_of_a_thread_in_one_batch_joins_the_first_ones_case(state: PostgresState,
                                                                              pg_dsn: str) -> None:
    first, second = batched(crash_matcher(state), thread(7)[:2], 100)
    assert kinds(first)[0] == "case_created" and kinds(second)[0] == "case_joined"
    assert first.actions[0].entity_id == second.actions[0].entity_id == case_id(BOX, "t7-u@customer.example")
    assert rows(pg_dsn, "SELECT count(*) FROM matcher_cases") == [(1,)]
    assert rows(pg_dsn, "SELECT round_robin_position FROM matcher_mailbox_state") == [(1,)]


def test_a_sender_over_the_autoresponse_limit_inside_one_batch_is_not_answered_again(state: PostgresState,
                                                                                      pg_dsn: str) -> None:
    decisions = batched(crash_matcher(state), thread(3), 100)
    assert sum(d.autoreply is not None for d in decisions) == AUTOREPLY_LIMIT
    assert [a.reason for d in decisions[AUTOREPLY_LIMIT:] for a in d.actions if a.kind == "autoreply_suppressed"] \
        == ["sender_autoreply_limit"] * (PER_THREAD - AUTOREPLY_LIMIT)
    assert rows(pg_dsn, "SELECT kind, count(*) FROM matcher_sender_events GROUP BY kind ORDER BY kind") == \
        [("autoreply", AUTOREPLY_LIMIT), ("case", 1)]


def test_batches_decide_as_one_email_per_transaction_did_and_a_replay_repeats_them(pg_dsn: str) -> None:
    emails = crash_emails(BOX, "u")[:400]
    one = PostgresState(lambda: psycopg.connect(pg_dsn))
    expected = [crash_matcher(one).match(e) for e in emails]  # the per-email path, then cleared
    one.close()
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("TRUNCATE matcher_decisions, matcher_threads, matcher_cases, matcher_leads, "
                     "matcher_sender_events, matcher_mailbox_state")
    first, again = (PostgresState(lambda: psycopg.connect(pg_dsn)) for _ in range(2))
    assert batched(crash_matcher(first), emails, 100) == expected
    tables = "SELECT (SELECT count(*) FROM matcher_cases), (SELECT count(*) FROM matcher_sender_events), " \
             "(SELECT sum(round_robin_position) FROM matcher_mailbox_state), (SELECT max(decided_at) " \
             "FROM matcher_decisions)"
    before = rows(pg_dsn, tables)
    assert batched(crash_matcher(again), emails, 64) == expected  # another replica replays the batches
    assert rows(pg_dsn, tables) == before
    first.close()
    again.close()


def test_two_replicas_with_overlapping_batches_make_one_case_per_thread(pg_dsn: str) -> None:
    # Both replicas decide every email (a rebalance handing batches over twice), in batches that
    # mix two mailboxes in opposite orders: sorted locking must queue them, never deadlock.
    other = "box-batch-2"
    emails = crash_emails(BOX, "u") + [e.model_copy(update={"sighting": e.sighting.model_copy(
        update={"mailbox_id": other})}) for e in crash_emails(BOX, "v")]
    mixed = [e for pair in zip(emails[:2000], emails[2000:], strict=True) for e in pair]
    orders = [mixed, [e for pair in zip(emails[2000:], emails[:2000], strict=True) for e in pair]]
    results: list[dict[uuid.UUID, Decision]] = [{}, {}]
    errors: list[BaseException] = []

    def replica(n: int) -> None:
        store = PostgresState(lambda: psycopg.connect(pg_dsn))
        m = crash_matcher(store)
        m.mailboxes.put(m.mailboxes.configs[BOX].model_copy(update={"mailbox_id": other}))
        try:
            decisions = batched(m, orders[n], 100)
            results[n] = {(e.email_id, e.sighting.mailbox_id): d for e, d in zip(orders[n], decisions, strict=True)}
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            store.close()

    workers = [threading.Thread(target=replica, args=(n,)) for n in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    assert results[0] == results[1]  # whichever replica decided an email first, the other repeated it
    created = Counter(a.entity_id for d in results[0].values() for a in d.actions if a.kind == "case_created")
    assert len(created) == 2 * THREADS and set(created.values()) == {1}
    assert rows(pg_dsn, "SELECT mailbox_id, count(*) FROM matcher_cases GROUP BY 1 ORDER BY 1") == \
        [(BOX, THREADS), (other, THREADS)]
    answered = Counter((k[1], d.autoreply.to.address) for k, d in results[0].items() if d.autoreply is not None)
    assert set(answered.values()) == {AUTOREPLY_LIMIT} and len(answered) == 2 * THREADS


def record(email: ParsedEmail, offset: int) -> Record:
    return Record("mail.parsed", 0, offset, email.sighting.mailbox_id.encode(),
                  encode(ParsedEnvelope(producer="test", payload=email)))


def test_a_value_postgresql_refuses_dead_letters_only_its_record(state: PostgresState, pg_dsn: str) -> None:
    emails = thread(5)[:4]
    # A NUL in a Message-ID: PostgreSQL text cannot hold it (psycopg DataError, a poison value).
    bad = emails[2].model_copy(update={"message_id": "bad\x00id@customer.example"})
    stage = MatchStage(crash_matcher(state))
    assert stage.batched
    outcomes = stage.handle_batch([record(e, n) for n, e in enumerate([*emails[:2], bad, emails[3]])])
    assert [type(o).__name__ for o in outcomes] == ["list", "list", "PoisonMessage", "list"]
    poison = outcomes[2]
    assert isinstance(poison, PoisonMessage) and poison.reason == "database_refused"
    assert rows(pg_dsn, "SELECT count(*) FROM matcher_decisions") == [(3,)]
    assert rows(pg_dsn, "SELECT count(*) FROM matcher_cases") == [(1,)]
