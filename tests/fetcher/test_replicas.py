"""Fetcher replicas as real processes: many mailboxes shared by three replicas without ever
being read by two at once, a SIGKILLed replica's mailboxes taken over, IDLE push, and no secret
in any log or topic."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from mailpipe.devtools import mailboxes
from mailpipe.devtools.processes import ServiceProcess, stop_all

from tests.conftest import stack_env
from tests.fetcher.conftest import FetchWorld, message, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.s3, pytest.mark.imap]


def test_three_replicas_share_thirty_mailboxes_and_take_over_a_killed_one(world: FetchWorld, replicas) -> None:  # type: ignore[no-untyped-def]
    boxes = {f"r{i:02d}-{world.unique}": world.user(f"r{i:02d}") for i in range(30)}
    for box, user in boxes.items():
        world.add(mailboxes.local_account(user, box, poll_interval_seconds=5))
        mailboxes.append(user, [message(n, box) for n in range(50)])
    expected = {(box, uid) for box in boxes for uid in range(1, 51)}
    # small batches and a 1 s time box make mailboxes change hands often: the interesting case
    procs = replicas(["rep-a", "rep-b", "rep-c"], concurrency="4", batch_size="5", run_time_box_seconds="1",
                     lease_seconds="5")

    def published() -> list[tuple[str, int]]:
        return [((r.header("mailbox") or b"").decode(), int(r.header("uid") or 0)) for r in world.records()]

    wait_for(lambda: len(published()) >= 300, 120, "a fifth of the mail")
    procs["rep-a"].kill(signal.SIGKILL)
    killed_at = world.scalar("SELECT clock_timestamp()")
    wait_for(lambda: set(published()) >= expected, 240, "every message of every mailbox")

    seen = published()
    assert set(seen) == expected
    doubled = sum(n - 1 for n in Counter(seen).values())
    # at-least-once: only batches the killed replica published but had not checkpointed may repeat
    assert doubled <= 4 * 5, f"{doubled} records repeated"

    runs = world.conn.execute("SELECT mailbox_id, replica, started_at, coalesce(ended_at, %s) FROM fetch_runs "
                              "ORDER BY mailbox_id, started_at", (killed_at,)).fetchall()
    assert {r[1] for r in runs} == {"rep-a", "rep-b", "rep-c"}
    for (box, who, _, end), (box2, who2, start2, _) in zip(runs, runs[1:], strict=False):
        if box == box2:
            assert start2 >= end, f"{box} was read by {who} and {who2} at the same time"
    orphaned = world.conn.execute("SELECT mailbox_id FROM fetch_runs WHERE replica = 'rep-a' AND ended_at IS NULL"
                                  ).fetchall()
    for (box,) in orphaned:
        later = world.scalar("SELECT count(*) FROM fetch_runs WHERE mailbox_id = %s AND replica <> 'rep-a' "
                             "AND started_at > %s", box, killed_at)
        assert later > 0, f"{box}, held by the killed replica, was never taken over"
    assert sum(procs[n].metric("mailpipe_fetcher_lease_takeovers_total") for n in ("rep-b", "rep-c")) >= len(orphaned)


@pytest.mark.parametrize("reissue_seconds", ["1500", "1"], ids=["idle", "idle-reissued-every-second"])
def test_idle_push_delivers_new_mail_without_polling(world: FetchWorld, replicas, reissue_seconds: str) -> None:  # type: ignore[no-untyped-def]
    user, box = world.user("push"), f"push-{world.unique}"
    world.add(mailboxes.local_account(user, box, push=True, poll_interval_seconds=3600))
    mailboxes.append(user, [message(0, world.unique)])
    procs = replicas(["rep-push"], idle_reissue_seconds=reissue_seconds)
    wait_for(lambda: len(world.records(box)) == 1, 60, "the first sync")
    for n in range(1, 4):
        time.sleep(1.5)
        mailboxes.append(user, [message(n, world.unique)])
        # a poll interval of an hour: only IDLE can bring it now
        wait_for(lambda n=n: len(world.records(box)) == n + 1, 30, f"message {n} by IDLE")
    if reissue_seconds == "1500":  # never re-issued here: every message came by an IDLE notification
        assert procs["rep-push"].metric("mailpipe_fetcher_idle_wakeups_total") >= 3
    # re-issued every second, mail also lands between two IDLEs, where only the UIDNEXT check sees it
    stop_all(procs)  # a clean stop hands the push mailbox back due at once, for the next replica
    assert world.scalar("SELECT lease_owner IS NULL AND next_run_at <= now() FROM mailbox_schedule "
                        "WHERE mailbox_id = %s", box) is True


def test_no_secret_in_logs_topics_or_metrics(world: FetchWorld, replicas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    user, box = world.user("sec"), f"sec-{world.unique}"
    world.add(mailboxes.local_account(user, box))
    mailboxes.append(user, [message(n, world.unique) for n in range(3)])
    procs = replicas(["rep-sec"])
    wait_for(lambda: len(world.records(box)) == 3, 60, "the mail")
    metrics_text = _metrics(procs["rep-sec"])
    stop_all(procs)
    secrets = [stack_env("MAILPIPE_STACK_MAIL_PASSWORD"), stack_env("MAILPIPE_SECRETS__KEYS")]
    log_text = (tmp_path / "rep-sec.log").read_text()
    assert '"starting"' in log_text and box in log_text  # the log is there and names the mailbox
    topics = b"".join((r.value or b"") + b"".join(v for _, v in r.headers) for r in world.records())
    mailbox_topic = b"".join(r.value or b"" for r in world.kafka.read_all("mail.mailboxes"))
    for secret in secrets:
        assert secret not in log_text, "a secret reached the log"
        assert secret.encode() not in topics + mailbox_topic, "a secret reached a topic"
        assert secret not in metrics_text
    assert user not in metrics_text and box not in metrics_text, "addresses or mailbox ids as metric labels"
    for name in ("mailpipe_fetcher_messages_fetched_total", "mailpipe_fetcher_seconds_since_last_success",
                 "mailpipe_fetcher_unfetched_messages", "mailpipe_fetcher_poll_duration_seconds_count"):
        assert name in metrics_text, f"{name} is not exported"


def _metrics(proc: ServiceProcess) -> str:
    import urllib.request

    return urllib.request.urlopen(f"http://127.0.0.1:{proc.http_port}/metrics", timeout=5).read().decode()


