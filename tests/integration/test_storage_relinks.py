"""Storage re-links one mailbox's decision and keeps the others': an email seen by mailboxes A and
B holds the union of both decisions' links; a reindex of A (a newer generation) replaces A's links
only, a record of B (generation 0) still adds B's, and an older generation of A adds nothing."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
from mailpipe.common.messages import Link, MatchedEmail
from mailpipe.common.runtime.ports import Record
from mailpipe.common.topics import REINDEX_GENERATION

from tests.integration.test_storage_store import T0, MakeStage, parsed, record, stage_for, store

__all__ = ["stage_for"]


def _matched(box: str, uid: int, offset: int, *links: tuple[str, str], generation: int = 0) -> Record:
    r = record(MatchedEmail(email=parsed(1, box, uid), links=[Link(entity_type=t, entity_id=i, reason="test")
                                                               for t, i in links]), offset, T0)
    return replace(r, headers=[(REINDEX_GENERATION, str(generation).encode())]) if generation else r


def _links(dsn: str) -> set[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        return {(t, i) for t, i in conn.execute("SELECT entity_type, entity_id FROM email_links")}


@pytest.mark.postgres
@pytest.mark.parametrize("send_every", [0, 1])
def test_a_reindex_of_one_mailbox_replaces_its_links_and_keeps_the_others(pg_dsn: str, stage_for: MakeStage,
                                                                          send_every: int) -> None:
    stage = stage_for(pg_dsn, send_every_records=send_every)
    assert store(stage, _matched("a", 1, 0, ("person", "p1"), ("case", "case-a")),
                 _matched("b", 2, 1, ("person", "p1"), ("case", "case-b"))) == []
    assert _links(pg_dsn) == {("person", "p1"), ("case", "case-a"), ("case", "case-b")}

    # A is reindexed after a directory change: its decision now links a company, no longer p1.
    store(stage, _matched("a", 1, 2, ("company", "c1"), ("case", "case-a"), generation=1000))
    assert _links(pg_dsn) == {("person", "p1"), ("company", "c1"), ("case", "case-a"), ("case", "case-b")}, \
        "p1 is still B's link; A's own links are replaced"

    # B replays its old decision; A's old decision comes back from a replay of mail.matched.
    store(stage, _matched("b", 2, 3, ("person", "p1"), ("case", "case-b")),
          _matched("a", 1, 4, ("person", "p9"), ("case", "case-a")))
    assert _links(pg_dsn) == {("person", "p1"), ("company", "c1"), ("case", "case-a"), ("case", "case-b")}

    # B is reindexed too and loses p1: now no mailbox gives it.
    store(stage, _matched("b", 2, 5, ("company", "c1"), ("case", "case-b"), generation=2000))
    assert _links(pg_dsn) == {("company", "c1"), ("case", "case-a"), ("case", "case-b")}


@pytest.mark.postgres
def test_a_newer_and_an_older_decision_in_one_batch_keep_the_newer(pg_dsn: str, stage_for: MakeStage) -> None:
    stage = stage_for(pg_dsn)
    store(stage, _matched("a", 1, 0, ("person", "p1")))
    store(stage, _matched("a", 1, 1, ("company", "c1"), generation=1000), _matched("a", 1, 2, ("person", "p2")))
    assert _links(pg_dsn) == {("company", "c1")}
