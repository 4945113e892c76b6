"""The fleet-wide gauges the fetcher alerts compare against, read from a real fetcher process:
push mailboxes (the IDLE connections that should be open) and polling mailboxes overdue by
their own poll interval. Neither carries a mailbox label (ids are no label values), so a
deleted mailbox or a lease that moved leaves no series behind: the figures come from
PostgreSQL on every refresh."""

from __future__ import annotations

import pytest
from mailpipe.devtools import mailboxes

from tests.fetcher.conftest import FetchWorld, message, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.s3, pytest.mark.imap]


@pytest.mark.timeout(180)
def test_push_and_overdue_gauges_follow_the_mailboxes(world: FetchWorld, replicas) -> None:  # type: ignore[no-untyped-def]
    push_user, push_box = world.user("gpush"), f"gpush-{world.unique}"
    world.add(mailboxes.local_account(push_user, push_box, push=True, poll_interval_seconds=3600))
    mailboxes.append(push_user, [message(0, world.unique)])
    # two hourly mailboxes, neither due: one last succeeded 2 h ago (within 3 intervals), one 4 h ago
    hourly = {f"g{age}h-{world.unique}": age for age in (2, 4)}
    for box, age in hourly.items():
        world.add(mailboxes.local_account(world.user(f"g{age}h"), box, poll_interval_seconds=3600))
        world.conn.execute("UPDATE mailbox_schedule SET last_success_at = now() - make_interval(hours => %s), "
                           "next_run_at = now() + interval '1 day' WHERE mailbox_id = %s", (age, box))
    proc = replicas(["rep-gauges"])["rep-gauges"]

    def gauges() -> tuple[float, float, float]:
        return (proc.metric("mailpipe_fetcher_push_mailboxes"), proc.metric("mailpipe_fetcher_idle_connections"),
                proc.metric("mailpipe_fetcher_mailboxes_overdue"))

    # the IDLE connection is open and expected; only the mailbox silent for 4 of its hours is overdue
    wait_for(lambda: gauges() == (1, 1, 1), 90, "one push mailbox idling and one overdue mailbox")

    # the push mailbox deleted: nothing expects its IDLE connection any more (no stale series fires)
    world.conn.execute("DELETE FROM mailbox_accounts WHERE mailbox_id = %s", (push_box,))
    world.conn.execute("UPDATE mailbox_schedule SET last_success_at = now() WHERE mailbox_id = %s",
                       (f"g4h-{world.unique}",))
    # (a replica that died would read as 0 too: it must still be serving)
    wait_for(lambda: gauges()[0] == 0 and gauges()[2] == 0 and proc.metric("mailpipe_fetcher_leases_held") >= 0
             and proc.metric("process_start_time_seconds") > 0, 60,
             "the deleted push mailbox and the caught-up mailbox to leave the gauges")
    # and the replica stops idling on a mailbox that no longer exists (its lease row went with it)
    wait_for(lambda: gauges()[1] == 0, 60, "the deleted mailbox's IDLE connection to close")
