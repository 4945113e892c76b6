"""Issue 5's crash workload and its tally, shared by the e2e crash test and bench/faust_state.py.

2,000 emails over 200 threads (10 per thread, one sender per thread), shuffled as the parallel
parser would emit them, into a convert-to-case mailbox with round-robin distribution over a team of
three users (one inactive) and an autoresponse rule. ``tally`` counts, from the records a matcher
wrote to ``mail.matched`` and ``mail.autoreply``, what a crash could have lost or doubled.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mailpipe.common.messages import (
    Address,
    AutoreplyEnvelope,
    AutoresponseRule,
    Entity,
    MailboxConfig,
    MailboxOptions,
    MatchedEnvelope,
    ParsedEmail,
    ProcessingAction,
    Sighting,
)
from mailpipe.matcher.rules.cases import case_id

THREADS, PER_THREAD, KILLS, AUTOREPLY_LIMIT = 200, 10, 5, 5
T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def crash_emails(box: str, unique: str) -> list[ParsedEmail]:
    """The workload, in a shuffled order that depends on ``unique`` only."""
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


def crash_users(unique: str) -> list[str]:
    """The team's three users; the second is inactive."""
    return [f"u{i}-{unique}" for i in range(3)]


def crash_directory(team: str, users: list[str]) -> list[Entity]:
    """The directory entities the workload needs: the team's users (the second inactive)."""
    return [Entity(type="user", id=u, team_ids=[team], active=(i != 1)) for i, u in enumerate(users)]


def crash_mailbox(box: str, team: str) -> MailboxConfig:
    """Convert to case, round-robin over ``team``, one autoresponse rule."""
    return MailboxConfig(mailbox_id=box, name="crash", protocol="imap", own_addresses=[f"{box}@mailpipe.test"],
                         options=MailboxOptions(
                             processing=ProcessingAction(action="case", case_distribution="round_robin",
                                                         case_team=team),
                             autoresponse_rules=[AutoresponseRule(name="ack", subject="Re: {subject}",
                                                                  body="Case {case_number}")]))


def kill_points(unique: str, total: int, kills: int = KILLS) -> list[int]:
    """Where to SIGKILL: ``kills`` progress counts drawn at random (seeded by ``unique``)."""
    return sorted(random.Random(unique + "k").sample(range(50, total - 50), kills))


def publish(producer: Any, topic: str, items: list[tuple[bytes, bytes]]) -> dict[int, int]:
    """Send and wait for every ack; returns the next offset after the last record, per partition."""
    futures = [producer.send(topic, key=k, value=v) for k, v in items]
    producer.flush(60)
    ends: dict[int, int] = {}
    for f in futures:
        meta = f.get(timeout=0)
        ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    return ends


@dataclass
class Tally:
    """What a run wrote, counted against what exactly-once processing would have written."""

    emails: int = 0  # emails of the workload
    decided: int = 0  # emails with at least one mail.matched record
    matched_records: int = 0  # mail.matched records, replays included
    cases_created: int = 0  # distinct case ids announced as case_created
    threads_created_twice: int = 0  # threads whose case_created came from more than one email
    cases_two_assignees: int = 0  # cases announced with different assignees by different records
    off_thread_case: int = 0  # emails not (only) on their thread's case
    decisions_differing: int = 0  # emails whose replayed records disagree
    autoreply_records: int = 0  # mail.autoreply records, replays included
    autoreplies_differing: int = 0  # emails whose replayed autoresponses disagree
    autoreplies_unannounced: int = 0  # autoresponses whose email's mail.matched records never queued one
    per_sender: dict[str, int] = field(default_factory=dict)  # distinct emails answered per sender
    assignees: dict[str, int] = field(default_factory=dict)  # new cases per assignee

    def senders_off_limit(self, limit: int = AUTOREPLY_LIMIT) -> int:
        """Senders answered other than exactly ``limit`` times (each sends 10 emails in 10 minutes)."""
        return sum(1 for n in self.per_sender.values() if n != limit) + (THREADS - len(self.per_sender))


def _decision_key(env: MatchedEnvelope) -> str:
    return json.dumps([a.model_dump(mode="json") for a in env.payload.actions] +
                      [lk.model_dump() for lk in env.payload.links], sort_keys=True)


def tally(box: str, emails: list[ParsedEmail], matched: Iterable[bytes], replies: Iterable[bytes]) -> Tally:
    """Count ``box``'s records among the values of ``mail.matched`` and ``mail.autoreply`` records."""
    marker = f'"mailbox_id":"{box}"'.encode()
    by_email: dict[str, list[MatchedEnvelope]] = defaultdict(list)
    for value in matched:
        if marker in value:
            env = MatchedEnvelope.model_validate_json(value)
            by_email[str(env.payload.email.email_id)].append(env)
    roots = {str(e.email_id): e.thread_root or "" for e in emails}
    t = Tally(emails=len(emails), decided=len(by_email), matched_records=sum(map(len, by_email.values())))
    creators: dict[str, set[str]] = defaultdict(set)
    assignees: dict[str, set[str | None]] = defaultdict(set)
    queued: set[str] = set()
    for eid, envs in by_email.items():
        t.decisions_differing += len({_decision_key(env) for env in envs}) > 1
        expected = case_id(box, roots[eid])
        for env in envs:
            if [lk.entity_id for lk in env.payload.links if lk.entity_type == "case"] != [expected]:
                t.off_thread_case += 1
                break
        for env in envs:
            for a in env.payload.actions:
                if a.kind == "case_created":
                    creators[a.entity_id or ""].add(eid)
                    assignees[a.entity_id or ""].add(a.assignee)
                elif a.kind == "autoreply_queued":
                    queued.add(eid)
    t.cases_created = len(creators)
    t.threads_created_twice = sum(1 for v in creators.values() if len(v) > 1)
    t.cases_two_assignees = sum(1 for v in assignees.values() if len(v) > 1)
    t.assignees = dict(Counter(sorted(v)[0] for v in ({str(a) for a in s} for s in assignees.values())))
    answered: dict[str, set[str]] = defaultdict(set)
    for value in replies:
        if marker in value:
            t.autoreply_records += 1
            env = AutoreplyEnvelope.model_validate_json(value)
            answered[str(env.payload.email_id)].add(env.payload.model_dump_json())
    t.autoreplies_differing = sum(1 for v in answered.values() if len(v) > 1)
    t.autoreplies_unannounced = sum(1 for eid in answered if eid not in queued)
    per_sender: Counter[str] = Counter()
    for versions in answered.values():
        per_sender[json.loads(next(iter(versions)))["to"]["address"]] += 1
    t.per_sender = dict(per_sender)
    return t
