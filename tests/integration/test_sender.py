"""The sender against the real Postfix (submission with STARTTLS and AUTH), Dovecot and PostgreSQL
(issue 15): what it sends arrives with the right headers and thread, once; a 5xx refusal is
dead-lettered with the server's words and is sent again only when it comes back from a replay
after the cause is fixed; a 4xx is deferred and retried; a wrong SMTP password stops only that
mailbox, and fixing the account sends what it held; the copy reaches the Sent folder.

The stage is driven directly (records in, ledger and mailboxes checked); the processes, Kafka
and ``mailpipe dlq replay`` are in tests/e2e/test_sender_pipeline.py."""

from __future__ import annotations

import email
import time
import uuid
from collections.abc import Iterator
from email import policy
from typing import Any

import psycopg
import pytest
from mailpipe.common.errors import PoisonMessage
from mailpipe.common.messages import (
    Address,
    Answered,
    Autoreply,
    AutoreplyEnvelope,
    OutboundEnvelope,
    OutboundMail,
    encode,
)
from mailpipe.common.runtime.dlq import REPLAYED_FROM
from mailpipe.common.runtime.ports import Record
from mailpipe.common.secretbox import SealedBox, SecretsSettings
from mailpipe.devtools import mailboxes
from mailpipe.sender import ledger
from mailpipe.sender.compose import autoreply_id
from mailpipe.sender.retry import Retrier
from mailpipe.sender.settings import SenderOptions
from mailpipe.sender.stage import SendStage
from pydantic import SecretStr

from tests.conftest import stack_env

pytestmark = [pytest.mark.postgres, pytest.mark.imap, pytest.mark.timeout(120)]
DOMAIN = "mailpipe.test"


def smtp_settings(**fields: Any) -> dict[str, Any]:
    """The stack's submission port (STARTTLS verified against the stack's CA, AUTH required)."""
    return {**mailboxes.local_smtp(), **fields}


def add_account(dsn: str, user: str, smtp_password: str | None = None, **fields: Any) -> str:
    """An account for Dovecot user ``user`` (address user@mailpipe.test) that sends through Postfix."""
    fields.setdefault("smtp", smtp_settings())
    account = mailboxes.local_account(user, user, email=f"{user}@{DOMAIN}", **fields)
    mailboxes.save_account(dsn, account, smtp_password=smtp_password)
    return user


_stages: list[SendStage] = []


def stage(dsn: str, **opts: Any) -> SendStage:
    made = SendStage(lambda: psycopg.connect(dsn, autocommit=True), box(), SenderOptions(**opts))
    _stages.append(made)
    return made


@pytest.fixture(autouse=True)
def _close_stages() -> Iterator[None]:
    yield
    while _stages:
        _stages.pop().close()


def box() -> SealedBox:
    return SealedBox(SecretsSettings(keys=SecretStr(stack_env("MAILPIPE_SECRETS__KEYS"))))


def autoreply_record(mailbox: str, to: str, offset: int = 0, replayed_from: str | None = None,
                     topic: str = "mail.autoreply", **fields: Any) -> Record:
    reply = Autoreply.model_validate({
        "email_id": uuid.uuid4(), "mailbox_id": mailbox, "rule": "ack", "to": Address(address=to),
        "subject": "Re: Broken pallet", "body": "We received your message.", "in_reply_to": "orig-1@acme.example",
        "references": ["root-1@acme.example", "orig-1@acme.example"],
        "answered": Answered(return_path=to), **fields})
    value = encode(AutoreplyEnvelope(producer="test", email_id=reply.email_id, payload=reply))
    headers = [(REPLAYED_FROM, replayed_from.encode())] if replayed_from else []
    return Record(topic, 0, offset, str(reply.email_id).encode(), value, headers)


def outbound_record(mail: OutboundMail, offset: int = 0, replayed_from: str | None = None) -> Record:
    value = encode(OutboundEnvelope(producer="crm", payload=mail))
    headers = [(REPLAYED_FROM, replayed_from.encode())] if replayed_from else []
    return Record("mail.outbound", 0, offset, str(mail.outbound_id).encode(), value, headers)


def inbox(user: str, expect: int, timeout: float = 30, folder: str = "INBOX") -> list[email.message.EmailMessage]:
    """``user``'s messages once there are at least ``expect`` (Postfix queues, then delivers)."""
    deadline = time.monotonic() + timeout
    while True:
        with mailboxes.connect(user) as client:
            found: list[email.message.EmailMessage] = []
            if client.folder_exists(folder):
                client.select_folder(folder, readonly=True)
                uids = client.search("ALL")
                raw = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
                found = [email.message_from_bytes(bytes(raw[u][b"BODY[]"]), policy=policy.default)  # type: ignore[misc]
                         for u in sorted(raw)]
        if len(found) >= expect or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def row_of(dsn: str, outbound_id: uuid.UUID) -> ledger.Row:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = ledger.get(conn, outbound_id)
    assert row is not None
    return row


def test_an_autoresponse_arrives_with_rfc3834_headers_and_its_thread_once(pg_dsn: str, unique: str) -> None:
    sender = add_account(pg_dsn, f"sup-{unique}")
    customer = f"cust-{unique}"
    record = autoreply_record(sender, f"{customer}@example.org")
    s = stage(pg_dsn)
    assert s.handle(record) == []
    [got] = inbox(customer, 1)
    reply_id = autoreply_id(uuid.UUID(record.key.decode()))  # type: ignore[union-attr]
    assert got["Auto-Submitted"] == "auto-replied" and got["From"] == f"{sender}@{DOMAIN}"
    assert got["In-Reply-To"] == "<orig-1@acme.example>"
    assert got["References"] == "<root-1@acme.example> <orig-1@acme.example>"
    assert got["Message-ID"] == f"<mailpipe.{reply_id.hex}@{DOMAIN}>"
    assert got["Return-Path"] == "<>"  # the null reverse-path: a bounce of it goes to nobody
    row = row_of(pg_dsn, reply_id)
    assert (row.status, row.attempts) == ("sent", 1)
    s.handle(record)  # a replay of the record: the ledger says sent
    assert row_of(pg_dsn, reply_id).attempts == 1
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM sent_copies WHERE done_at IS NULL").fetchone() == (1,)


def test_crm_mail_from_a_case_has_the_group_reply_to_and_signature_and_its_copy_reaches_sent(
        pg_dsn: str, unique: str) -> None:
    from mailpipe.fetcher import sentcopies
    from mailpipe.fetcher.accounts.model import Folder
    from mailpipe.fetcher.sources.imap import ImapMailSource

    group = f"grp-{unique}"
    with mailboxes.connect(group) as client:
        client.create_folder("Sent")
    add_account(pg_dsn, group, folders=[Folder(name="INBOX", role="inbox"), Folder(name="Sent", role="sent")],
                sending={"signature": "custom", "signature_text": "Acme Support\nhttps://acme.example"})
    customer = f"cust-{unique}"
    mail = OutboundMail(outbound_id=uuid.uuid4(), mailbox_id=group, to=[Address(address=f"{customer}@example.org")],
                        subject="Your pallet", text_body="It ships today.", case_id="case-1")
    stage(pg_dsn).handle(outbound_record(mail))
    [got] = inbox(customer, 1)
    assert got["Reply-To"] == f"{group}@{DOMAIN}" and "Auto-Submitted" not in got
    assert got.get_content().replace("\r\n", "\n").endswith("-- \nAcme Support\nhttps://acme.example\n")
    account = mailboxes.local_account(group, group, folders=[Folder(name="Sent", role="sent")])
    with psycopg.connect(pg_dsn, autocommit=True) as conn, ImapMailSource(
            account, stack_env("MAILPIPE_STACK_MAIL_PASSWORD"), 20) as src:
        assert sentcopies.append_pending(conn, account, src) == 1
        conn.execute("UPDATE sent_copies SET done_at = NULL")  # as if the run died before recording it
        assert sentcopies.append_pending(conn, account, src) == 0  # found by Message-ID, not appended twice
    [copy] = inbox(group, 1, folder="Sent")
    assert copy["Message-ID"] == got["Message-ID"]


def test_a_5xx_refusal_dead_letters_with_the_reason_and_a_replay_after_the_fix_sends_it(
        pg_dsn: str, unique: str) -> None:
    sender = add_account(pg_dsn, f"sup-{unique}", smtp=smtp_settings(from_address=f"nobody-{unique}@{DOMAIN}"))
    customer = f"cust-{unique}"
    mail = OutboundMail(outbound_id=uuid.uuid4(), mailbox_id=sender, to=[Address(address=f"{customer}@example.org")],
                        subject="Quote", text_body="Attached.")
    s = stage(pg_dsn)
    with pytest.raises(PoisonMessage) as refused:
        s.handle(outbound_record(mail))
    assert refused.value.reason == "smtp_refused" and "553" in refused.value.detail  # Postfix: not owned by user
    with pytest.raises(PoisonMessage):  # the same record again (a crash before the commit): dead-lettered again
        s.handle(outbound_record(mail))
    assert row_of(pg_dsn, mail.outbound_id).attempts == 1  # ... without another attempt
    add_account(pg_dsn, sender)  # the operator fixes the From address
    s.handle(outbound_record(mail, offset=7, replayed_from="dlq-1"))  # `mailpipe dlq replay` sent it back
    [got] = inbox(customer, 1)
    assert got["From"] == f"{sender}@{DOMAIN}" and row_of(pg_dsn, mail.outbound_id).status == "sent"


@pytest.mark.kafka
def test_a_4xx_is_deferred_retried_and_dead_lettered_when_it_never_goes_through(pg_dsn: str, unique: str) -> None:
    from tests.support.harness import KafkaHarness

    sender = add_account(pg_dsn, f"sup-{unique}")
    topic = f"autoreply-{unique}"
    harness = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    harness.create_topic(f"{topic}.dlq")
    record = autoreply_record(sender, f"defer-{unique}@example.org", topic=topic)  # the stack's Postfix answers 450
    opts = {"backoff_base_seconds": 0.05, "give_up_after_hours": 1.0}
    stage(pg_dsn, **opts).handle(record)
    reply_id = autoreply_id(uuid.UUID(record.key.decode()))  # type: ignore[union-attr]
    row = row_of(pg_dsn, reply_id)
    assert (row.status, row.attempts) == ("deferred", 1) and "450" in (row.reason or "")
    try:
        retrier = Retrier(lambda: psycopg.connect(pg_dsn, autocommit=True), box(), SenderOptions(**opts),
                          harness.producer())
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            time.sleep(0.1)
            assert retrier.run_once(conn) == {"deferred": 1}
            assert row_of(pg_dsn, reply_id).attempts == 2
            conn.execute("UPDATE outbound_sends SET created_at = now() - interval '2 hours', next_attempt_at = now()")
            assert retrier.run_once(conn) == {"refused": 1}
        row = row_of(pg_dsn, reply_id)
        assert row.status == "refused" and (row.reason or "").startswith("expired:")
        letters = harness.read_all(f"{topic}.dlq")
        assert len(letters) == 1 and letters[0].value == record.value
        assert dict(letters[0].headers)["dlq-reason"] == b"expired"
    finally:
        harness.close()


def test_a_wrong_smtp_password_stops_only_that_mailbox_until_its_account_is_fixed(pg_dsn: str, unique: str) -> None:
    bad = add_account(pg_dsn, f"bad-{unique}", smtp_password="not-the-password")
    good = add_account(pg_dsn, f"good-{unique}")
    customer = f"cust-{unique}"
    s = stage(pg_dsn)
    first, second = autoreply_record(bad, f"{customer}@example.org"), autoreply_record(bad, f"{customer}@example.org")
    s.handle(first)
    s.handle(autoreply_record(good, f"{customer}@example.org"))
    s.handle(second)  # held at once: the mailbox is stopped, nothing is tried
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        [state] = [m for m in ledger.mailbox_states(conn) if m["mailbox_id"] == bad]
        assert state["stopped_field"] == "smtp.password" and "535" in state["stopped_reason"]
        assert state["held"] == 2
        assert ledger.due(conn, 10, 120) == []
    assert [m["From"] for m in inbox(customer, 1)] == [f"{good}@{DOMAIN}"]
    assert row_of(pg_dsn, autoreply_id(uuid.UUID(second.key.decode()))).attempts == 0  # type: ignore[union-attr]
    add_account(pg_dsn, bad)  # `mailpipe accounts set` with the right password
    retrier = Retrier(lambda: psycopg.connect(pg_dsn, autocommit=True), box(), SenderOptions(), producer=None)  # type: ignore[arg-type]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert retrier.run_once(conn) == {"sent": 2}
        assert ledger.stopped(conn, bad) is None
    assert sorted(m["From"] for m in inbox(customer, 3)) == [f"{bad}@{DOMAIN}"] * 2 + [f"{good}@{DOMAIN}"]


def test_mail_for_a_mailbox_without_an_account_is_held_and_sent_once_the_account_exists(
        pg_dsn: str, unique: str) -> None:
    """Not dead-lettered: the account may be added after the request (or come back)."""
    user, customer = f"late-{unique}", f"cust-{unique}"
    record = autoreply_record(user, f"{customer}@example.org")
    stage(pg_dsn).handle(record)
    reply_id = autoreply_id(uuid.UUID(record.key.decode()))  # type: ignore[union-attr]
    row = row_of(pg_dsn, reply_id)
    assert (row.status, row.attempts, row.message) == ("held", 0, b"") and "no account" in (row.reason or "")
    add_account(pg_dsn, user)
    retrier = Retrier(lambda: psycopg.connect(pg_dsn, autocommit=True), box(), SenderOptions(), producer=None)  # type: ignore[arg-type]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert retrier.run_once(conn) == {}  # held for backoff_base_seconds before it is looked at again
        conn.execute("UPDATE outbound_sends SET next_attempt_at = now()")
        assert retrier.run_once(conn) == {"sent": 1}
    [got] = inbox(customer, 1)
    assert got["From"] == f"{user}@{DOMAIN}" and got["Auto-Submitted"] == "auto-replied"


def test_a_mailbox_without_a_server_sends_through_the_default_outbound_account(pg_dsn: str, unique: str) -> None:
    """References 001/003/004: the system's outgoing account sends for the mailbox; From stays the
    mailbox's, Sender and the envelope are the account that logged in (Postfix lets a login send
    only as itself), and an autoresponse keeps the null reverse-path."""
    default = add_account(pg_dsn, f"main-{unique}", sending={"default_account": True})
    box_ = add_account(pg_dsn, f"team-{unique}", smtp=None, sending={"use_default_account": True})
    customer = f"cust-{unique}"
    mail = OutboundMail(outbound_id=uuid.uuid4(), mailbox_id=box_, to=[Address(address=f"{customer}@example.org")],
                        subject="From the team", text_body="Hello.")
    s = stage(pg_dsn)
    s.handle(outbound_record(mail))
    s.handle(autoreply_record(box_, f"{customer}@example.org"))
    got = {m["Subject"]: m for m in inbox(customer, 2)}
    crm, auto = got["From the team"], got["Re: Broken pallet"]
    assert crm["From"] == auto["From"] == f"{box_}@{DOMAIN}"
    assert crm["Sender"] == f"{default}@{DOMAIN}" and crm["Return-Path"] == f"<{default}@{DOMAIN}>"
    assert auto["Return-Path"] == "<>" and auto["Sender"] is None


def test_only_the_owner_and_those_it_is_shared_with_may_send_from_a_mailbox(pg_dsn: str, unique: str) -> None:
    from mailpipe.common.messages import Requester

    box_ = add_account(pg_dsn, f"shared-{unique}", options={"owner_user": "u-owner"},
                       sending={"shared": True, "shared_teams": ["t-support"]})
    customer = f"cust-{unique}"

    def mail(user: str, teams: list[str]) -> OutboundMail:
        return OutboundMail(outbound_id=uuid.uuid4(), mailbox_id=box_, to=[Address(address=f"{customer}@example.org")],
                            subject=f"from {user}", text_body="Hi.",
                            requested_by=Requester(user_id=user, team_ids=teams))

    s = stage(pg_dsn)
    with pytest.raises(PoisonMessage) as refused:
        s.handle(outbound_record(mail("u-sales", ["t-sales"])))
    assert refused.value.reason == "not_permitted"
    s.handle(outbound_record(mail("u-owner", [])))
    s.handle(outbound_record(mail("u-agent", ["t-support"])))
    assert sorted(m["Subject"] for m in inbox(customer, 2)) == ["from u-agent", "from u-owner"]


def test_sender_status_and_resume(pg_dsn: str, unique: str, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """What an operator sees of a stopped mailbox, and resuming it."""
    import json

    from mailpipe import cli

    bad = add_account(pg_dsn, f"bad-{unique}", smtp_password="not-the-password")
    stage(pg_dsn).handle(autoreply_record(bad, f"cust-{unique}@example.org"))
    monkeypatch.setenv("MAILPIPE_POSTGRES__DSN", pg_dsn)
    assert cli.main(["sender", "status"]) == 0
    [state] = json.loads(capsys.readouterr().out)
    assert (state["mailbox_id"], state["stopped_field"], state["held"]) == (bad, "smtp.password", 1)
    assert "not-the-password" not in json.dumps(state)
    assert cli.main(["sender", "resume", bad]) == 0
    assert json.loads(capsys.readouterr().out) == {"mailbox": bad, "resumed": True}
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert ledger.stopped(conn, bad) is None and len(ledger.due(conn, 10, 120)) == 1  # tried again next round


def test_a_copy_for_a_sent_folder_the_server_lacks_is_recorded_and_does_not_stop_the_run(
        pg_dsn: str, unique: str) -> None:
    from mailpipe.fetcher import sentcopies
    from mailpipe.fetcher.accounts.model import Folder
    from mailpipe.fetcher.sources.imap import ImapMailSource

    group, customer = f"grp-{unique}", f"cust-{unique}"
    folders = [Folder(name="INBOX", role="inbox"), Folder(name="Sent Items", role="sent")]  # never created
    add_account(pg_dsn, group, folders=folders)
    mail = OutboundMail(outbound_id=uuid.uuid4(), mailbox_id=group, to=[Address(address=f"{customer}@example.org")],
                        subject="Hello", text_body="Hi.")
    stage(pg_dsn).handle(outbound_record(mail))
    account = mailboxes.local_account(group, group, folders=folders)
    with psycopg.connect(pg_dsn, autocommit=True) as conn, ImapMailSource(
            account, stack_env("MAILPIPE_STACK_MAIL_PASSWORD"), 20) as src:
        assert sentcopies.append_pending(conn, account, src) == 0
        outcome = conn.execute("SELECT outcome FROM sent_copies").fetchone()[0]
        assert sentcopies.pending(conn, group) == []
    assert outcome == "folder_missing: Sent Items"


def test_an_out_of_office_notice_waiting_for_a_retry_counts_towards_its_period(pg_dsn: str, unique: str) -> None:
    """While the first notice to a recipient is deferred (450), a second one is suppressed: the
    limits count what is on its way, so an outage does not release a burst when it ends."""
    box_ = add_account(pg_dsn, f"away-{unique}")
    s = stage(pg_dsn)
    first = autoreply_record(box_, f"defer-{unique}@example.org", kind="out_of_office", once_per_seconds=86400)
    second = autoreply_record(box_, f"defer-{unique}@example.org", kind="out_of_office", once_per_seconds=86400)
    s.handle(first)
    s.handle(second)
    statuses = [row_of(pg_dsn, autoreply_id(uuid.UUID(r.key.decode()))) for r in (first, second)]  # type: ignore[union-attr]
    assert [(r.status, r.reason) for r in statuses] == [
        ("deferred", statuses[0].reason), ("suppressed", "out_of_office_already_sent")]


def test_held_crm_mail_is_checked_for_who_asked_before_it_is_held(pg_dsn: str, unique: str) -> None:
    from mailpipe.common.messages import Requester

    box_ = add_account(pg_dsn, f"noserver-{unique}", smtp=None, options={"owner_user": "u-owner"})
    mail = OutboundMail(outbound_id=uuid.uuid4(), mailbox_id=box_, to=[Address(address=f"x-{unique}@example.org")],
                        subject="s", text_body="b", requested_by=Requester(user_id="u-stranger"))
    with pytest.raises(PoisonMessage) as refused:
        stage(pg_dsn).handle(outbound_record(mail))
    assert refused.value.reason == "not_permitted"
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM outbound_sends").fetchone() == (0,)


def test_fixing_the_default_outbound_account_lets_the_mailboxes_that_use_it_send_again(
        pg_dsn: str, unique: str) -> None:
    default = add_account(pg_dsn, f"main-{unique}", smtp_password="not-the-password",
                          sending={"default_account": True})
    box_ = add_account(pg_dsn, f"team-{unique}", smtp=None, sending={"use_default_account": True})
    customer = f"cust-{unique}"
    stage(pg_dsn).handle(autoreply_record(box_, f"{customer}@example.org"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert ledger.stopped(conn, box_) is not None and ledger.due(conn, 10, 120) == []
    add_account(pg_dsn, default, sending={"default_account": True})  # the default account's password fixed
    retrier = Retrier(lambda: psycopg.connect(pg_dsn, autocommit=True), box(), SenderOptions(), producer=None)  # type: ignore[arg-type]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert retrier.run_once(conn) == {"sent": 1}
    assert [m["From"] for m in inbox(customer, 1)] == [f"{box_}@{DOMAIN}"]


@pytest.mark.kafka
def test_mail_held_past_the_limit_is_dead_lettered_even_while_its_mailbox_stays_stopped(
        pg_dsn: str, unique: str) -> None:
    from tests.support.harness import KafkaHarness

    bad = add_account(pg_dsn, f"bad-{unique}", smtp_password="not-the-password")
    topic = f"autoreply-{unique}"
    harness = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    harness.create_topic(f"{topic}.dlq")
    try:
        record = autoreply_record(bad, f"cust-{unique}@example.org", topic=topic)
        stage(pg_dsn).handle(record)
        retrier = Retrier(lambda: psycopg.connect(pg_dsn, autocommit=True), box(), SenderOptions(),
                          harness.producer())
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            assert retrier.run_once(conn) == {}  # stopped: not due
            conn.execute("UPDATE outbound_sends SET created_at = now() - interval '6 days'")
            assert retrier.run_once(conn) == {"refused": 1}
        [letter] = harness.read_all(f"{topic}.dlq")
        assert letter.value == record.value and dict(letter.headers)["dlq-reason"] == b"expired"
    finally:
        harness.close()


def test_a_stale_attempt_cannot_overwrite_a_later_send(pg_dsn: str, unique: str) -> None:
    """A send that outlived its lease reports back after another attempt sent the message: its
    deferral is not recorded, so the message is not sent a third time."""
    sender = add_account(pg_dsn, f"sup-{unique}")
    record = autoreply_record(sender, f"cust-{unique}@example.org")
    stage(pg_dsn).handle(record)
    reply_id = autoreply_id(uuid.UUID(record.key.decode()))  # type: ignore[union-attr]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert not ledger.settle(conn, reply_id, "deferred", "timeout: late", 60, attempt=1)
    assert row_of(pg_dsn, reply_id).status == "sent"


def test_while_a_mailboxs_server_is_unreachable_its_new_mail_waits_without_trying(pg_dsn: str, unique: str) -> None:
    """The first send finds nothing listening and is deferred; the next messages of that mailbox
    are deferred to the same time without a connection attempt of their own (each would wait out
    the timeouts again, holding up the other mailboxes of the partition); other mailboxes send."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens once the socket is closed
    down = add_account(pg_dsn, f"down-{unique}", smtp=smtp_settings(port=closed_port))
    up = add_account(pg_dsn, f"up-{unique}")
    customer = f"cust-{unique}"
    s = stage(pg_dsn)
    first, second = (autoreply_record(down, f"{n}-{customer}@example.org") for n in ("a", "b"))
    s.handle(first)
    s.handle(second)
    s.handle(autoreply_record(up, f"{customer}@example.org"))
    rows = [row_of(pg_dsn, autoreply_id(uuid.UUID(r.key.decode()))) for r in (first, second)]  # type: ignore[union-attr]
    assert [(r.status, r.attempts) for r in rows] == [("deferred", 1), ("deferred", 0)]
    assert (rows[0].reason or "").startswith("connection: ")
    with psycopg.connect(pg_dsn) as conn:
        times = conn.execute("SELECT next_attempt_at FROM outbound_sends WHERE mailbox_id = %s ORDER BY attempts",
                             (down,)).fetchall()
    assert times[0] == times[1]
    assert [m["From"] for m in inbox(customer, 1)] == [f"{up}@{DOMAIN}"]


def test_an_oauth2_mailbox_sends_with_xoauth2_refreshing_its_token(pg_dsn: str, unique: str,
                                                                   oauth_provider: str) -> None:
    """Gmail- and Microsoft 365-style: the SMTP login is XOAUTH2 with the mailbox's own grant; the
    sender refreshes the access token at the token endpoint, Postfix asks Dovecot, Dovecot asks the
    provider; the refreshed token is sealed back into the account. A revoked grant stops only
    that mailbox's sending, naming oauth2."""
    from mailpipe.common.secretbox import SealedBox
    from mailpipe.fetcher.accounts.model import AccountSecrets
    from mailpipe.fetcher.accounts.ops import save_sealed

    from tests.support.oauth_provider import Provider

    user, customer = f"oauth-{unique}", f"cust-{unique}"
    Provider.refresh_tokens[f"rt-{unique}"] = user
    account = mailboxes.local_account(user, user, email=f"{user}@{DOMAIN}", auth="oauth2",
                                      oauth2={"token_url": oauth_provider, "client_id": "mailpipe-test-client"},
                                      smtp=smtp_settings(auth="oauth2"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        save_sealed(conn, account, AccountSecrets(oauth2_refresh_token=SecretStr(f"rt-{unique}")),
                    SecretStr(stack_env("MAILPIPE_SECRETS__KEYS")))
    s = stage(pg_dsn)
    s.handle(autoreply_record(user, f"{customer}@example.org"))
    [got] = inbox(customer, 1)
    assert got["From"] == f"{user}@{DOMAIN}" and got["Auto-Submitted"] == "auto-replied"
    with psycopg.connect(pg_dsn) as conn:
        sealed = conn.execute("SELECT secrets FROM mailbox_accounts WHERE mailbox_id = %s", (user,)).fetchone()[0]
    stored = SealedBox(SecretsSettings(keys=SecretStr(stack_env("MAILPIPE_SECRETS__KEYS")))).open_json(bytes(sealed))
    assert stored["oauth2_access_token"] in Provider.access_tokens and stored["oauth2_expires_at"]

    del Provider.refresh_tokens[f"rt-{unique}"]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # the token expires; the grant is revoked meanwhile
        conn.execute("UPDATE mailbox_accounts SET secrets = %s WHERE mailbox_id = %s",
                     (box().seal_json({**stored, "oauth2_expires_at": 0}), user))
    s.handle(autoreply_record(user, f"other-{customer}@example.org"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        stop = ledger.stopped(conn, user)
    assert stop is not None and stop[0] == "oauth2" and "revoked" in stop[1]
