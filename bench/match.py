"""bench/match: the matcher's rule evaluation and its directory index at issue 5's scale.

A directory of 1,000,000 persons, 100,000 companies and 200,000 tasks is built the way the follower
builds it (``crm.entities`` envelope bytes → model → EntityIndex.upsert; Kafka itself is not in the
timing), then 20,000 parsed emails are matched on one core with every rule (persons, companies,
tasks, threads, filters, autoresponse rules) against a state view with nothing recorded. The floor,
measured in the same run: a plain dict lookup of each email's sender address in a dict of the
1,000,000 person addresses.

Targets (issue 5): >= 20,000 emails/s per core, index < 1.5 GB, index build < 60 s.
Run: ``.venv/bin/python bench/match.py [--persons N]`` (``make bench`` runs it with the defaults).
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import time
import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path

from mailpipe.common.messages import (
    Address,
    AutoresponseRule,
    Condition,
    Entity,
    EntityEnvelope,
    Link,
    MailboxConfig,
    MailboxOptions,
    MailFilter,
    ParsedEmail,
    Sighting,
    encode,
)
from mailpipe.matcher.decide import decide
from mailpipe.matcher.decision import Context, CounterKind
from mailpipe.matcher.directory import EntityIndex


def rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


class NoState:
    """A state view with nothing recorded (the rules' cost without PostgreSQL round trips)."""

    def thread_links(self, keys: Sequence[str]) -> list[Link]:
        return []

    def case_of_thread(self, mailbox_id: str, root: str) -> tuple[str, str] | None:
        return None

    def lead_of_sender(self, mailbox_id: str, sender: str) -> str | None:
        return None

    def round_robin_position(self, mailbox_id: str) -> int:
        return 0

    def count_since(self, mailbox_id: str, kind: CounterKind, sender: str, since: datetime) -> int:
        return 0

    def assigned_cases(self, mailbox_id: str, users: Collection[str]) -> list[tuple[str, str]]:
        return []


def directory_records(persons: int, companies: int, tasks: int) -> list[bytes]:
    rng = random.Random(5)
    out = []
    for c in range(companies):
        e = Entity(type="company", id=f"c{c}", name=f"Company {c}", emails=[f"info@co{c}.example"],
                   hostnames=[f"co{c}.example"], blocked=c % 50 == 0)
        out.append(encode(EntityEnvelope(producer="bench", payload=e)))
    for p in range(persons):
        c = rng.randrange(companies)
        e = Entity(type="person", id=f"p{p}", name=f"Person {p}", emails=[f"person{p}@co{c}.example"],
                   company_ids=[f"c{c}"])
        out.append(encode(EntityEnvelope(producer="bench", payload=e)))
    for t in range(tasks):
        e = Entity(type="task", id=f"t{t}", number=100000 + t, company_id=f"c{rng.randrange(companies)}")
        out.append(encode(EntityEnvelope(producer="bench", payload=e)))
    return out


def emails(n: int, person_addresses: list[str], companies: int, tasks: int) -> list[ParsedEmail]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            sender = rng.choice(person_addresses)  # a person (company by main address and host)
        elif kind == 1:
            sender = f"someone{i}@co{rng.randrange(companies)}.example"  # host match
        elif kind == 2:
            sender = f"x{i}@gmail.com"  # free mail
        else:
            sender = f"y{i}@unknown{i}.example"
        subject = f"Order {i} [Task#{100000 + rng.randrange(tasks)}]" if i % 3 == 0 else f"Question {i}"
        mid = f"b{i}@bench.example"
        out.append(ParsedEmail.model_validate({
            "email_id": uuid.uuid5(uuid.NAMESPACE_URL, mid), "message_id": mid,
            "sighting": Sighting(mailbox_id="bench", folder="INBOX", uidvalidity=1, uid=i + 1),
            "subject": subject, "from": [Address(name="Sender", address=sender)],
            "to": [Address(address="support@mailpipe.test"), Address(address=f"cc{i}@co{i % companies}.example")],
            "thread_root": mid, "size_bytes": 1000, "sha256": "0" * 64, "text_body": "Hello, please help " * 20}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--companies", type=int, default=100_000)
    ap.add_argument("--tasks", type=int, default=200_000)
    ap.add_argument("--emails", type=int, default=20_000)
    a = ap.parse_args()

    # One blob (a single allocation, returned to the OS when freed), read line by line: the RSS
    # growth over the build is then the index's, not the input's.
    blob = b"\n".join(directory_records(a.persons, a.companies, a.tasks))
    gc.collect()
    before = rss_bytes()
    index = EntityIndex()
    gc.disable()  # as in a long-lived process after start-up; the index holds no cycles
    t0 = time.perf_counter()
    for value in io.BytesIO(blob):
        index.upsert(EntityEnvelope.model_validate_json(value).payload)
    build_s = time.perf_counter() - t0
    gc.enable()
    gc.collect()
    index_bytes = rss_bytes() - before
    del blob

    box = MailboxConfig(mailbox_id="bench", name="bench", protocol="imap", own_addresses=["support@mailpipe.test"],
                        options=MailboxOptions(
                            filters=[MailFilter(name="news", conditions=[
                                Condition(field="subject", op="matches", value="*newsletter*"),
                                Condition(field="from", op="ends_with", value="@news.example")])],
                            autoresponse_rules=[AutoresponseRule(name="ack", subject="Re: {subject}", body="Hi",
                                                                 conditions=[Condition(field="body", op="contains",
                                                                                       value="urgent")])]))
    ctx = Context(index, {"bench": box}, frozenset(box.own_addresses))
    floor = {addr: pid for pid, person in index.persons.items() for addr in person.emails}
    mails = emails(a.emails, list(floor), a.companies, a.tasks)
    now, state = datetime.now(UTC), NoState()

    t0 = time.perf_counter()
    hits = sum(1 for m in mails if m.from_[0].address in floor)
    floor_s = time.perf_counter() - t0
    t0 = time.process_time()
    linked = 0
    for m in mails:
        decision, _ = decide(m, ctx, state, now)
        linked += bool(decision.links)
    rules_s = time.process_time() - t0

    rate, floor_rate = a.emails / rules_s, a.emails / floor_s
    print(f"bench/match: directory {a.persons:,} persons, {a.companies:,} companies, {a.tasks:,} tasks; "
          f"{a.emails:,} emails ({linked:,} with links, floor hits {hits})")
    print(f"  index build from entity envelopes: {build_s:6.1f} s   (target < 60 s)")
    print(f"  index memory (RSS growth):         {index_bytes / 2**20:8.0f} MiB (target < 1536 MiB)")
    print(f"  rule evaluation, one core:         {rate:10,.0f} emails/s (target >= 20,000)")
    print(f"  floor, dict lookup of the sender:  {floor_rate:10,.0f} lookups/s; rules cost "
          f"{floor_rate / rate:,.0f}x the floor")


if __name__ == "__main__":
    main()
