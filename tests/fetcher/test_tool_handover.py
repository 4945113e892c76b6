"""Operator tools on mailboxes a replica holds: ``accounts reindex`` on a push mailbox whose lease
the IDLE loop keeps for as long as the replica runs. The tool asks the holder for the lease, the
holder hands it over between two IDLEs, and takes the mailbox back afterwards; never two fetches
of the mailbox at once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pytest
from mailpipe import cli
from mailpipe.devtools import mailboxes
from mailpipe.fetcher import leases

from tests.fetcher.conftest import FetchWorld, message, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.s3, pytest.mark.imap]


@pytest.fixture
def tool(world: FetchWorld, monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    monkeypatch.setenv("MAILPIPE_POSTGRES__DSN", world.dsn)
    monkeypatch.setenv("MAILPIPE_FETCH__RAW_TOPIC", world.topic)

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["accounts", *argv])
        out, err = capsys.readouterr()
        return code, out, err
    return invoke


def holder(world: FetchWorld, box: str) -> str | None:
    return world.scalar("SELECT lease_owner FROM mailbox_schedule WHERE mailbox_id = %s", box)  # type: ignore[no-any-return]


@pytest.mark.timeout(240)
def test_reindex_of_a_push_mailbox_held_by_its_idle_loop(world: FetchWorld, replicas, tool) -> None:  # type: ignore[no-untyped-def]
    user, box = world.user("idlere"), f"idlere-{world.unique}"
    world.add(mailboxes.local_account(user, box, push=True, poll_interval_seconds=3600))
    mailboxes.append(user, [message(n, world.unique) for n in range(3)])
    replicas(["rep-idle"], lease_seconds="30")
    wait_for(lambda: len(world.records(box)) == 3, 60, "the first sync")
    wait_for(lambda: holder(world, box) == "rep-idle", 30, "the replica to hold the push mailbox")

    code, out, err = tool("reindex", box, "--folder", "INBOX")
    assert code == 0, err  # the old tool waited 30 s for a lease IDLE never released, then failed
    assert json.loads(out)["published"] == 3
    assert Counter(int(r.header("uid") or 0) for r in world.records(box)) == {1: 2, 2: 2, 3: 2}, \
        "reindex publishes every fetched message again exactly once"

    # the replica takes its push mailbox back and IDLE brings new mail again (poll interval: an hour)
    wait_for(lambda: holder(world, box) == "rep-idle", 30, "the replica to take the mailbox back")
    mailboxes.append(user, [message(3, world.unique)])
    wait_for(lambda: len(world.records(box)) == 7, 60, "new mail by IDLE after the reindex")
    assert Counter(int(r.header("uid") or 0) for r in world.records(box))[4] == 1

    runs = world.conn.execute("SELECT replica, outcome, started_at, ended_at FROM fetch_runs WHERE mailbox_id = %s "
                              "ORDER BY started_at", (box,)).fetchall()
    readers = [r[0] for r in runs]
    assert any(r.startswith("tool:") for r in readers) and "rep-idle" in readers, runs
    for (who, _, _, end), (who2, _, start2, _) in zip(runs, runs[1:], strict=False):
        assert end is not None and start2 >= end, f"{who} and {who2} read {box} at the same time"
    assert any(r[1] == "handed_over" for r in runs if r[0] == "rep-idle"), runs


@pytest.mark.timeout(120)
def test_a_holder_that_does_not_answer_is_named_and_nothing_is_read(world: FetchWorld, tool) -> None:  # type: ignore[no-untyped-def]
    user, box = world.user("ghost"), f"ghost-{world.unique}"
    world.add(mailboxes.local_account(user, box))
    mailboxes.append(user, [message(0, world.unique)])
    assert world.run(box) == "complete"
    # a replica that keeps renewing its lease but never looks at requests (an older fetcher, or one stuck)
    assert leases.claim_one(world.conn, "ghost-replica", box, 300) is not None

    code, _, err = tool("reindex", box, "--wait-seconds", "2")
    assert code != 0
    assert "ghost-replica" in err and "did not hand" in err, err
    assert len(world.records(box)) == 1, "nothing may be read beside the holder"
    assert world.scalar("SELECT handover_to FROM mailbox_schedule WHERE mailbox_id = %s", box) is None, \
        "a request that timed out is withdrawn"
