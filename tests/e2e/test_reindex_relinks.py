"""``accounts reindex`` re-links (seed 004's "ReIndex Folder"): mail imported before its company
was in the directory gets the company's link once the folder is reindexed, with the matcher killed
in the middle of the reindex. Nothing doubles: one case per thread, no second autoresponse, one
email and one sighting per message. Before, the matcher repeated its stored decision for every
reindexed email, so nothing was linked anew."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psycopg
import pytest
import yaml
from mailpipe.common import admin
from mailpipe.devtools import mailboxes

from tests.conftest import stack_env
from tests.e2e.test_pipeline import services, stored, wait_for  # noqa: F401 (services is a fixture)
from tests.support.harness import KafkaHarness

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3, pytest.mark.imap]
THREADS, PER_THREAD = 10, 3


def _thread_mail(unique: str, host: str) -> list[bytes]:
    out = []
    for t in range(THREADS):
        root = f"<t{t}-0-{unique}@{host}>"
        for n in range(PER_THREAD):
            reply = f"In-Reply-To: {root}\r\nReferences: {root}\r\n" if n else ""
            out.append((f"Message-ID: <t{t}-{n}-{unique}@{host}>\r\nFrom: Kim <kim{t}@{host}>\r\n"
                        f"To: support@mailpipe.test\r\nSubject: question {t}\r\n{reply}"
                        f"Date: Mon, 5 Oct 2026 1{n}:00:00 +0000\r\n\r\nbody {t}.{n}\r\n").encode())
    return out


def _links(dsn: str, box: str) -> dict[str, list[tuple[str, str]]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT e.message_id, l.entity_type, l.entity_id FROM emails e "
                            "JOIN email_sightings s USING (email_id) LEFT JOIN email_links l USING (email_id) "
                            "WHERE s.mailbox_id = %s", (box,)).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for message_id, entity_type, entity_id in rows:
        out.setdefault(message_id, [])
        if entity_type:
            out[message_id].append((entity_type, entity_id))
    return out


def _autoreplies(dsn: str, box: str) -> int:
    """Records on mail.autoreply for this mailbox's emails (what the sender service would send)."""
    with psycopg.connect(dsn) as conn:
        mine = {str(r[0]).encode() for r in conn.execute(
            "SELECT email_id FROM email_sightings WHERE mailbox_id = %s", (box,))}
    records = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS")).read_all("mail.autoreply")
    return sum(1 for r in records if r.header("email-id") in mine)


def _scalar(dsn: str, sql: str, *args: object) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute(sql, args).fetchone()[0])  # type: ignore[index]


@pytest.mark.timeout(420)
def test_reindex_after_a_directory_change_links_anew_and_a_killed_matcher_doubles_nothing(
        services, pg_dsn: str, unique: str, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    host = f"newco-{unique}.example"
    user, box = f"relink-{unique}@mailpipe.test", f"box-{unique}"
    mail = _thread_mail(unique, host)
    mailboxes.append(user, mail)
    options = {"processing": {"action": "case"},
               "autoresponse_rules": [{"name": "ack", "subject": "got it", "body": "case {case_number}"}]}
    procs = services(user, {"MAILPIPE_RUNTIME__BATCH_MAX_RECORDS": "2"}, options=options)
    wait_for(lambda: stored(pg_dsn, box) == len(mail), procs, timeout=240)
    before = _links(pg_dsn, box)
    assert all(("company", f"newco-{unique}") not in v for v in before.values())
    cases = _scalar(pg_dsn, "SELECT count(*) FROM matcher_cases WHERE mailbox_id = %s", box)
    replies = _autoreplies(pg_dsn, box)
    assert cases == THREADS and replies > 0

    directory = tmp_path / "newco.yaml"
    directory.write_text(yaml.safe_dump([{"type": "company", "id": f"newco-{unique}", "name": "NewCo",
                                          "hostnames": [host]}]))
    admin.load_directory(directory)
    consumed = procs["matcher"].metric("mailpipe_runtime_records_consumed_total")
    env = {**os.environ, "MAILPIPE_POSTGRES__DSN": pg_dsn}
    reindex = subprocess.Popen([sys.executable, "-m", "mailpipe", "accounts", "reindex", box, "--folder", "INBOX"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: procs["matcher"].metric("mailpipe_runtime_records_consumed_total") >= consumed + 4, procs)
    procs["matcher"].kill(signal.SIGKILL)  # in the middle of the reindexed mail
    procs["matcher"].start()
    out, err = reindex.communicate(timeout=120)
    assert reindex.returncode == 0, err

    def relinked() -> bool:
        return all(("company", f"newco-{unique}") in v for v in _links(pg_dsn, box).values())
    wait_for(relinked, procs, timeout=240)
    after = _links(pg_dsn, box)
    assert len(after) == len(mail) and stored(pg_dsn, box) == len(mail)
    for message_id, links in after.items():
        case_links = [i for t, i in links if t == "case"]
        assert len(case_links) == 1, f"{message_id}: {case_links}"
    assert _scalar(pg_dsn, "SELECT count(*) FROM matcher_cases WHERE mailbox_id = %s", box) == THREADS
    assert _autoreplies(pg_dsn, box) == replies, "a reindex sent autoresponses again"
