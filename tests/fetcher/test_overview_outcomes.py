"""``accounts overview`` after a real pipeline run (fetcher, parser, matcher and storage processes,
Dovecot, Kafka, S3, PostgreSQL): each message says what really happened to it — stored (published
whole, claim-checked or header-only), skipped by a mailbox filter, dead-lettered by the parser."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from mailpipe import cli
from mailpipe.common import clients
from mailpipe.common.runtime.kafka_ports import KafkaProducerPort
from mailpipe.common.settings import KafkaSettings
from mailpipe.devtools import mailboxes
from mailpipe.fetcher.accounts import publish

from tests.conftest import stack_env
from tests.e2e.test_pipeline import services  # noqa: F401  (the fixture that starts the four services)
from tests.fetcher.conftest import message

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.s3, pytest.mark.imap]
DAY = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


@pytest.mark.timeout(420)
def test_overview_names_each_outcome_after_a_pipeline_run(pg_dsn: str, unique: str, services,  # type: ignore[no-untyped-def]  # noqa: F811
                                                          monkeypatch, capsys) -> None:
    user, box = f"ov-{unique}@mailpipe.test", f"ov-{unique}"
    newsletters = {"name": "newsletters", "conditions": [{"field": "subject", "op": "contains",
                                                          "value": "newsletter"}]}
    account = mailboxes.local_account(user, box, poll_interval_seconds=5, max_message_bytes=100_000,
                                      options={"filters": [newsletters]})
    mailboxes.save_account(pg_dsn, account)
    producer = KafkaProducerPort(clients.make_producer(KafkaSettings(
        bootstrap_servers=stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))))
    try:  # the matcher knows the mailbox's filter before the first email reaches it
        publish.send_and_wait(producer, [publish.mailbox_record(account, "test")])
    finally:
        producer.close()
    mail = {
        "plain": message(1, unique),
        "claim_checked": message(2, unique, body="x" * 50_000),
        "header_only": message(3, unique, body="y" * 150_000),
        "filtered": message(4, unique).replace(b"Subject: message 4", b"Subject: our newsletter 4"),
        "not_mail": b"this is not an email at all, no header in sight\r\n",
    }
    with mailboxes.connect(user) as client:
        for raw in mail.values():
            client.append("INBOX", raw, msg_time=DAY)
    uid = {name: n + 1 for n, name in enumerate(mail)}
    # the fixture adds an account of its own; given an empty Dovecot user, it has nothing to read
    procs = services(f"empty-{unique}@mailpipe.test", {"MAILPIPE_FETCH__CLAIM_CHECK_BYTES": "20000"})

    monkeypatch.setenv("MAILPIPE_POSTGRES__DSN", pg_dsn)

    def rows() -> dict[int, dict[str, Any]]:
        code = cli.main(["accounts", "overview", box, "--date", DAY.date().isoformat(), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        return {r["uid"]: r for r in json.loads(out)}

    deadline = time.monotonic() + 300
    while (seen := rows()) and any(r.get("fate") in (None, "in_flight", "not_fetched") for r in seen.values()):
        dead = [p.service for p in procs.values() if not p.alive()]
        assert not dead and time.monotonic() < deadline, (dead, seen)
        time.sleep(2)

    assert set(seen) == set(uid.values())
    for name in ("plain", "claim_checked", "header_only"):
        assert seen[uid[name]]["fate"] == "stored", seen[uid[name]]
        assert "→ stored" in seen[uid[name]]["what_happened"]
    assert seen[uid["plain"]]["fetched"] == "published"
    assert seen[uid["claim_checked"]]["fetched"] == "claim_checked"
    assert (seen[uid["header_only"]]["fetched"], seen[uid["header_only"]]["fetch_reason"]) == \
        ("headers_only", "over_size_limit")

    filtered = seen[uid["filtered"]]
    assert (filtered["fate"], filtered["skipped"]) == ("skipped", "filter:mailbox:newsletters"), filtered
    assert "skipped by the matcher: filter:mailbox:newsletters" in filtered["what_happened"]

    rejected = seen[uid["not_mail"]]
    assert rejected["fate"] == "dead_lettered", rejected
    assert [(d["topic"], d["stage"], d["reason"]) for d in rejected["dead_letters"]] == \
        [("mail.raw.dlq", "parser", "not_mail")]
    assert "dead-lettered in mail.raw.dlq by parser: not_mail" in rejected["what_happened"]

    # the text form says the same, one line per message
    assert cli.main(["accounts", "overview", box, "--date", DAY.date().isoformat()]) == 0
    text = capsys.readouterr().out
    assert "5 message(s)" in text and "skipped by the matcher" in text and "dead-lettered in mail.raw.dlq" in text
