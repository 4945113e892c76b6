"""Issue 5's crash test: 2,000 emails over 200 threads, in shuffled order (the parser emits in
parallel), into a convert-to-case mailbox with an autoresponse rule, while the matcher process is
SIGKILLed five times at random. Afterwards: exactly 200 cases, every email joined to its thread's
case, every autoresponse decided once (replayed records repeat it byte for byte), and the
per-sender limit of 5 autoresponses neither exceeded nor undercut by replays."""

from __future__ import annotations

import json
import random
import signal
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from mailpipe.common import admin, clients
from mailpipe.common.messages import (
    Address,
    AutoreplyEnvelope,
    AutoresponseRule,
    Entity,
    EntityEnvelope,
    MailboxConfig,
    MailboxEnvelope,
    MailboxOptions,
    MatchedEnvelope,
    ParsedEmail,
    ParsedEnvelope,
    ProcessingAction,
    Sighting,
    encode,
)
from mailpipe.common.topics import AUTOREPLY, ENTITIES, MAILBOXES, MATCHED, PARSED
from mailpipe.devtools.processes import ServiceProcess, free_port
from mailpipe.matcher.rules.cases import case_id

from tests.conftest import stack_env
from tests.support.harness import KafkaHarness

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

THREADS, PER_THREAD, KILLS = 200, 10, 5
T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def _emails(box: str, unique: str) -> list[ParsedEmail]:
    out = []
    for t in range(THREADS):
        root = f"t{t}-{unique}@customer.example"
        for n in range(PER_THREAD):
            mid = root if n == 0 else f"t{t}-{n}-{unique}@customer.example"
            refs = [root] if n else []
            out.append(ParsedEmail.model_validate({
                "email_id": uuid.uuid5(uuid.NAMESPACE_URL, mid), "message_id": mid,
                "sighting": Sighting(mailbox_id=box, folder="INBOX", uidvalidity=1, uid=t * PER_THREAD + n + 1),
                "subject": f"{'Re: ' if n else ''}Problem {t}", "from": [Address(name=f"Customer {t}",
                                                                              address=f"c{t}@customer.example")],
                "to": [Address(address=f"{box}@mailpipe.test")], "in_reply_to": refs[0] if refs else None,
                "references": refs, "thread_root": root, "size_bytes": 100, "sha256": "0" * 64,
                "internal_date": T0 + timedelta(minutes=n), "text_body": "Please help"}))
    random.Random(unique).shuffle(out)
    return out


def _publish(producer, topic: str, items: list[tuple[bytes, bytes]]) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """Send and wait for every ack; returns the next offset after the last record, per partition."""
    futures = [producer.send(topic, key=k, value=v) for k, v in items]
    producer.flush(60)
    ends: dict[int, int] = {}
    for f in futures:
        meta = f.get(timeout=0)
        ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    return ends


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
    users = [f"u{i}-{unique}" for i in range(3)]
    config = MailboxConfig(mailbox_id=box, name="crash", protocol="imap", own_addresses=[f"{box}@mailpipe.test"],
                           options=MailboxOptions(
                               processing=ProcessingAction(action="case", case_distribution="round_robin",
                                                           case_team=team),
                               autoresponse_rules=[AutoresponseRule(name="ack", subject="Re: {subject}",
                                                                    body="Case {case_number}")]))
    producer = clients.make_producer(h.settings)
    try:
        entities = [Entity(type="user", id=u, team_ids=[team], active=(i != 1)) for i, u in enumerate(users)]
        _publish(producer, ENTITIES, [(e.key.encode(), encode(EntityEnvelope(producer="test", payload=e)))
                                      for e in entities])
        _publish(producer, MAILBOXES, [(box.encode(), encode(MailboxEnvelope(producer="test", payload=config)))])
        emails = _emails(box, unique)
        ends = _publish(producer, parsed_t, [(box.encode(), encode(ParsedEnvelope(email_id=e.email_id, producer="test",
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
    kill_points = sorted(random.Random(unique + "k").sample(range(50, total - 50), KILLS))
    try:
        matcher.start()
        for point in kill_points:
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

    mine = [r for r in h.read_all(matched_t) if f'"mailbox_id":"{box}"'.encode() in (r.value or b"")]
    by_email: dict[str, list[MatchedEnvelope]] = defaultdict(list)
    for r in mine:
        env = MatchedEnvelope.model_validate_json(r.value or b"")
        by_email[str(env.payload.email.email_id)].append(env)
    assert len(by_email) == total
    roots = {str(e.email_id): e.thread_root for e in emails}
    created: dict[str, set[str]] = defaultdict(set)
    for eid, envs in by_email.items():
        decisions = {json.dumps([a.model_dump(mode="json") for a in env.payload.actions] +
                                [lk.model_dump() for lk in env.payload.links], sort_keys=True) for env in envs}
        assert len(decisions) == 1, f"a replay changed the decision of {eid}"
        payload = envs[0].payload
        expected_case = case_id(box, roots[eid] or "")
        case_links = [lk.entity_id for lk in payload.links if lk.entity_type == "case"]
        assert case_links == [expected_case], f"{eid} is not on its thread's case"
        action = payload.actions[0]
        assert action.kind in ("case_created", "case_joined") and action.entity_id == expected_case
        if action.kind == "case_created":
            created[expected_case].add(eid)
            assert action.assignee in (users[0], users[2])  # round-robin skips the inactive user
    assert len(created) == THREADS and all(len(v) == 1 for v in created.values())
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM matcher_cases WHERE mailbox_id = %s", (box,)).fetchone()[0] == THREADS

    replies = [AutoreplyEnvelope.model_validate_json(r.value or b"") for r in h.read_all(reply_t)
               if f'"mailbox_id":"{box}"'.encode() in (r.value or b"")]
    per_email: dict[str, set[str]] = defaultdict(set)
    for env in replies:
        per_email[str(env.payload.email_id)].add(env.payload.model_dump_json())
    assert all(len(v) == 1 for v in per_email.values()), "an autoresponse was decided twice differently"
    per_sender: dict[str, int] = defaultdict(int)
    for eid in per_email:
        queued = [a for a in by_email[eid][0].payload.actions if a.kind == "autoreply_queued"]
        assert queued, f"{eid} has an autoresponse its mail.matched record does not announce"
        per_sender[json.loads(next(iter(per_email[eid])))["to"]["address"]] += 1
    # 10 emails per sender within 10 minutes: exactly 5 answered each, whatever the kills did
    assert per_sender == {f"c{t}@customer.example": 5 for t in range(THREADS)}
    h.close()

