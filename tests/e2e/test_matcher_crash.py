"""Issue 5's crash test: 2,000 emails over 200 threads, in shuffled order (the parser emits in
parallel), into a convert-to-case mailbox with an autoresponse rule, while the matcher process is
SIGKILLed five times at random. Afterwards: exactly 200 cases, every email joined to its thread's
case, every autoresponse decided once (replayed records repeat it byte for byte), and the
per-sender limit of 5 autoresponses neither exceeded nor undercut by replays."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psycopg
import pytest
from mailpipe.common import admin, clients
from mailpipe.common.messages import EntityEnvelope, MailboxEnvelope, ParsedEnvelope, encode
from mailpipe.common.topics import AUTOREPLY, ENTITIES, MAILBOXES, MATCHED, PARSED
from mailpipe.devtools.processes import ServiceProcess, free_port

from tests.conftest import stack_env
from tests.support.harness import KafkaHarness
from tests.support.matcher_crash import (
    THREADS,
    crash_directory,
    crash_emails,
    crash_mailbox,
    crash_users,
    kill_points,
    publish,
    tally,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _decided(dsn: str, box: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM matcher_decisions WHERE mailbox_id = %s", (box,)).fetchone()[0])


def test_sigkilled_matcher_makes_each_case_and_autoresponse_once(pg_dsn: str, unique: str, tmp_path: Path) -> None:
    admin.create_topics()
    h = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    box, team, group = f"crash-{unique}", f"team-{unique}", f"matcher-crash-{unique}"
    # Topics of this run only: matchers of other runs (other groups) would answer records on the shared ones.
    parsed_t, matched_t, reply_t = (f"t{unique}.{t}" for t in (PARSED, MATCHED, AUTOREPLY))
    for topic, parts in ((parsed_t, 3), (f"{parsed_t}.dlq", 3), (matched_t, 3), (reply_t, 3)):
        h.create_topic(topic, parts)
    users = crash_users(unique)
    config = crash_mailbox(box, team)
    producer = clients.make_producer(h.settings)
    try:
        publish(producer, ENTITIES, [(e.key.encode(), encode(EntityEnvelope(producer="test", payload=e)))
                                     for e in crash_directory(team, users)])
        publish(producer, MAILBOXES, [(box.encode(), encode(MailboxEnvelope(producer="test", payload=config)))])
        emails = crash_emails(box, unique)
        ends = publish(producer, parsed_t, [(box.encode(), encode(ParsedEnvelope(email_id=e.email_id, producer="test",
                                                                           payload=e))) for e in emails])
    finally:
        producer.close()

    matcher = ServiceProcess("matcher", {"MAILPIPE_POSTGRES__DSN": pg_dsn, "MAILPIPE_RUNTIME__GROUP_ID": group,
                                         "MAILPIPE_RUNTIME__BATCH_MAX_RECORDS": "25",
                                         "MAILPIPE_MATCHER__INPUT_TOPIC": parsed_t,
                                         "MAILPIPE_MATCHER__MATCHED_TOPIC": matched_t,
                                         "MAILPIPE_MATCHER__AUTOREPLY_TOPIC": reply_t},
                             tmp_path / "matcher.log", free_port())
    total = len(emails)
    try:
        matcher.start()
        for point in kill_points(unique, total):
            deadline = time.monotonic() + 240
            while _decided(pg_dsn, box) < point:
                assert matcher.alive(), "the matcher exited on its own"
                assert time.monotonic() < deadline, f"no progress to {point} decisions"
                time.sleep(0.05)
            matcher.kill(signal.SIGKILL)
            assert matcher.proc is not None and matcher.proc.returncode == -9
            matcher.start()
        deadline = time.monotonic() + 300
        while _decided(pg_dsn, box) < total:
            assert matcher.alive() and time.monotonic() < deadline
            time.sleep(0.2)
        # The last batch's outputs are flushed before its commit; wait for the commit to cover everything.
        deadline = time.monotonic() + 120
        while any((h.committed(group, parsed_t, p) or 0) < end for p, end in ends.items()):
            assert matcher.alive() and time.monotonic() < deadline
            time.sleep(0.5)
    finally:
        matcher.kill(signal.SIGTERM)
        print("\n".join(matcher.log_path.read_text(errors="replace").splitlines()[-30:]))

    t = tally(box, emails, (r.value or b"" for r in h.read_all(matched_t)),
              (r.value or b"" for r in h.read_all(reply_t)))
    h.close()
    assert t.decided == total
    assert t.decisions_differing == 0, "a replay changed a decision"
    assert t.off_thread_case == 0, "an email is not on its thread's case"
    assert t.cases_created == THREADS and t.threads_created_twice == 0 and t.cases_two_assignees == 0
    assert set(t.assignees) <= {users[0], users[2]}  # round-robin skips the inactive user
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM matcher_cases WHERE mailbox_id = %s", (box,)).fetchone()[0] == THREADS
    assert t.autoreplies_differing == 0, "an autoresponse was decided twice differently"
    assert t.autoreplies_unannounced == 0, "an autoresponse its mail.matched record does not announce"
    # 10 emails per sender within 10 minutes: exactly 5 answered each, whatever the kills did
    assert t.senders_off_limit() == 0, t.per_sender
