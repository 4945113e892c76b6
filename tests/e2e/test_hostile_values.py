"""No single value can break a write: a 10 KB Message-ID, 10 KB of References and a 5 KB address
go through all four services into a convert-to-case mailbox with a [Task#N] subject. Each email is
stored, the reply joins its thread's case, and nothing stalls or is dead-lettered. Before keys had a
bound, the 10 KB Message-ID was an index row over PostgreSQL's 2704-byte limit in the matcher's
thread index: retried forever, it stalled the mailbox."""

from __future__ import annotations

import random

import psycopg
import pytest
import yaml
from mailpipe.common import admin
from mailpipe.devtools import mailboxes

from tests.e2e.test_pipeline import services, stored, wait_for  # noqa: F401 (services is a fixture)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3, pytest.mark.imap]


def _long_id(tag: str, size: int) -> str:
    rng = random.Random(tag)
    return "<" + tag + "." + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size)) + \
        "@hostile.example>"


@pytest.mark.timeout(300)
def test_oversized_ids_and_addresses_are_stored_and_threads_still_join(services, pg_dsn: str, unique: str,  # noqa: F811
                                                                       tmp_path) -> None:  # type: ignore[no-untyped-def]
    task_number = 700_000 + random.Random(unique).randrange(99_999)
    entities = tmp_path / "tasks.yaml"
    entities.write_text(yaml.safe_dump([{"type": "task", "id": f"task-{unique}", "name": "hostile",
                                         "number": task_number, "company_id": "acme"}]))
    admin.load_directory(entities)
    root_id = _long_id(f"root-{unique}", 10_000)
    refs = [root_id] + [_long_id(f"ref{i}-{unique}", 2_500) for i in range(3)]  # 10 KB of References
    long_address = "x" * 5_000 + "@acme.example"
    root = (f"Message-ID: {root_id}\r\nFrom: Alice <alice@acme.example>\r\nTo: sales@mailpipe.test\r\n"
            f"Subject: order [Task#{task_number}]\r\nDate: Mon, 5 Oct 2026 10:00:00 +0000\r\n\r\nroot\r\n").encode()
    reply = (f"Message-ID: <reply-{unique}@acme.example>\r\nFrom: Bob <bob@acme.example>\r\n"
             f"To: sales@mailpipe.test\r\nSubject: Re: order\r\nIn-Reply-To: {refs[-1]}\r\n"
             "References: " + "\r\n ".join(refs) + "\r\n"
             "Date: Mon, 5 Oct 2026 11:00:00 +0000\r\n\r\nreply\r\n").encode()
    stranger = (f"Message-ID: <long-address-{unique}@acme.example>\r\nFrom: Long <{long_address}>\r\n"
                f"To: sales@mailpipe.test, <{long_address}>\r\nSubject: long address [Task#{task_number}]\r\n"
                "Date: Mon, 5 Oct 2026 12:00:00 +0000\r\n\r\nlong\r\n").encode()
    user, box = f"hostile-{unique}@mailpipe.test", f"box-{unique}"
    mailboxes.append(user, [root, reply, stranger])
    procs = services(user, {}, options={"processing": {"action": "case"}})
    wait_for(lambda: stored(pg_dsn, box) == 3, procs, timeout=240)
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT e.subject, l.entity_type, l.entity_id FROM emails e JOIN email_sightings s USING (email_id) "
            "LEFT JOIN email_links l USING (email_id) WHERE s.mailbox_id = %s", (box,)).fetchall()
        message_ids = {r[0] for r in conn.execute("SELECT message_id FROM emails e JOIN email_sightings s "
                                                   "USING (email_id) WHERE s.mailbox_id = %s", (box,))}
    links: dict[str, set[tuple[str, str]]] = {}
    for subject, entity_type, entity_id in rows:
        links.setdefault(subject, set()).add((entity_type, entity_id))
    cases = {s: {i for t, i in v if t == "case"} for s, v in links.items()}
    assert ("task", f"task-{unique}") in links[f"order [Task#{task_number}]"]
    assert len(cases[f"order [Task#{task_number}]"]) == 1
    assert cases["Re: order"] == cases[f"order [Task#{task_number}]"], "the reply did not join its thread's case"
    assert root_id.strip("<>") in message_ids  # the original is kept where it is only data
    for name in ("parser", "matcher", "storage"):
        assert procs[name].metric("mailpipe_runtime_dead_letters_total") == 0, f"{name} dead-lettered mail"
    assert procs["matcher"].metric("mailpipe_matcher_keys_digested_total") > 0
