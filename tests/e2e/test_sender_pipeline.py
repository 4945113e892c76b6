"""Issue 15 through the real pipeline: the five services as processes; Dovecot, Postfix (submission
with STARTTLS and AUTH, delivery over LMTP), Kafka, PostgreSQL and S3.

One pipeline start serves the mail flows (each with mailboxes of its own):
- two mailboxes with autoresponders answering each other stop after one reply each: ours answers
  the other side's person once, and never the other side's autoresponse (it carries
  Auto-Submitted), while the other side (a remote RFC 3834 autoresponder the test plays) answers
  ours once and never our autoresponse; two mailboxes of this deployment never answer each other
  at all (own-mailbox loop protection);
- a remote autoresponder that omits Auto-Submitted is stopped by the rate limit (5 per window);
- an out-of-office notice answers a sender once per period;
- CRM mail on mail.outbound arrives with the group Reply-To and the signature, and its copy is in
  the mailbox's Sent folder;
- a 5xx refusal is dead-lettered with the server's words and `mailpipe dlq replay` sends it once
  the account is fixed.
A second test SIGKILLs the sender between the server's acceptance and the ledger's record of it.
The autoresponse and outbound topics are this test's own, so no other test's requests reach it."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mailpipe import cli
from mailpipe.common import admin
from mailpipe.common.messages import Address, Autoreply, AutoreplyEnvelope, OutboundEnvelope, OutboundMail, encode
from mailpipe.devtools import mailboxes
from mailpipe.devtools.processes import ServiceProcess, free_port, pipeline, stop_all
from mailpipe.sender.compose import autoreply_id

from tests.conftest import stack_env
from tests.e2e.test_pipeline import start_in_groups
from tests.integration.test_sender import DOMAIN, inbox, smtp_settings
from tests.support.harness import KafkaHarness

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3, pytest.mark.imap, pytest.mark.timeout(900)]
ACK_ALL = {"name": "ack", "subject": "Re: {subject}", "body": "Hello {sender_name}, we got your message."}


@pytest.fixture
def flow(pg_dsn: str, unique: str, tmp_path: Path) -> Iterator[Callable[..., dict[str, ServiceProcess]]]:
    """Starts the services named (default all five) on this test's database and topics."""
    admin.create_topics()
    harness = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    topics = {"autoreply": f"autoreply-{unique}", "outbound": f"outbound-{unique}"}
    for topic in topics.values():
        harness.create_topic(topic, 2)
        harness.create_topic(f"{topic}.dlq", 2)
    started: list[dict[str, ServiceProcess]] = []

    def start(*names: str, **extra: str) -> dict[str, ServiceProcess]:
        env = {"MAILPIPE_POSTGRES__DSN": pg_dsn, "MAILPIPE_FETCH__CLAIM_INTERVAL_SECONDS": "0.2",
               "MAILPIPE_FETCH__LEASE_SECONDS": "5", "MAILPIPE_FETCH__CONCURRENCY": "12",
               "MAILPIPE_MATCHER__AUTOREPLY_TOPIC": topics["autoreply"],
               "MAILPIPE_SENDER__AUTOREPLY_TOPIC": topics["autoreply"],
               "MAILPIPE_SENDER__OUTBOUND_TOPIC": topics["outbound"],
               "MAILPIPE_SENDER__RETRY_INTERVAL_SECONDS": "1", **extra}
        procs = start_in_groups(pipeline(env, tmp_path / "logs", {s: free_port() for s in names or cli.SERVICES}),
                                unique)  # the sender's topics are this test's own: it starts at their beginning
        started.append(procs)
        return procs

    start.topics = topics  # type: ignore[attr-defined]
    yield start
    for procs in started:
        stop_all(procs)
    harness.close()
    for log in sorted((tmp_path / "logs").glob("*.log")):
        print(f"===== {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))


def account(dsn: str, user: str, **fields: Any) -> str:
    """A mailbox of Dovecot user ``user`` (address user@mailpipe.test), pushed (IMAP IDLE), sending
    through the stack's Postfix."""
    fields.setdefault("smtp", smtp_settings())
    mailboxes.save_account(dsn, mailboxes.local_account(user, user, email=f"{user}@{DOMAIN}",
                                                        push=True, **fields))
    return user


def submit(user: str, to: str, subject: str, in_reply_to: str | None = None) -> str:
    """Send as ``user`` through the stack's submission port (a person writing, not a machine)."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"{user}@{DOMAIN}", to, subject
    msg["Message-ID"] = mid = f"<{uuid.uuid4().hex}@{DOMAIN}>"
    msg["Date"] = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    if in_reply_to:
        msg["In-Reply-To"] = msg["References"] = in_reply_to
    msg.set_content("Hello there\n")
    with smtplib.SMTP("localhost", int(stack_env("MAILPIPE_STACK_SUBMISSION_PORT")), timeout=20) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=stack_env("MAILPIPE_STACK_TLS_CA")))
        smtp.login(user, stack_env("MAILPIPE_STACK_MAIL_PASSWORD"))
        smtp.send_message(msg)
    return mid


def sent(dsn: str, mailbox: str, status: str = "sent") -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM outbound_sends WHERE mailbox_id = %s AND status = %s",
                                (mailbox, status)).fetchone()[0])


def until(condition: Callable[[], object], procs: dict[str, ServiceProcess], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert all(p.alive() for p in procs.values()), f"exited: {[p.service for p in procs.values() if not p.alive()]}"
        assert time.monotonic() < deadline, "the pipeline did not get there in time"
        time.sleep(0.5)
    return value


def autoreplies(user: str) -> list[EmailMessage]:
    return [m for m in inbox(user, 0, timeout=0) if m["Auto-Submitted"] == "auto-replied"]


def submit_autoreply(user: str, to: EmailMessage) -> None:
    """What an RFC 3834 autoresponder at ``user`` answers ``to`` with."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"{user}@{DOMAIN}", to["From"], f"Auto: {to['Subject']}"
    msg["Auto-Submitted"], msg["In-Reply-To"] = "auto-replied", to["Message-ID"]
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@{DOMAIN}>"
    msg.set_content("I am away.\n")
    with smtplib.SMTP("localhost", int(stack_env("MAILPIPE_STACK_SUBMISSION_PORT")), timeout=20) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=stack_env("MAILPIPE_STACK_TLS_CA")))
        smtp.login(user, stack_env("MAILPIPE_STACK_MAIL_PASSWORD"))
        smtp.send_message(msg, from_addr="")


def test_mail_out_and_back_through_the_whole_pipeline(flow: Any, pg_dsn: str, unique: str) -> None:
    a, b, c, d = (account(pg_dsn, f"{n}-{unique}", options={"autoresponse_rules": [ACK_ALL]}) for n in "abcd")
    now = datetime.now(UTC)
    ooo = {"starts_at": (now - timedelta(days=1)).isoformat(), "ends_at": (now + timedelta(days=1)).isoformat(),
           "subject": "Away: {subject}", "body": "Back next week."}
    e = account(pg_dsn, f"e-{unique}", options={"out_of_office": ooo})
    group = f"grp-{unique}"
    with mailboxes.connect(group) as client:
        client.create_folder("Sent")
    account(pg_dsn, group, folders=[{"name": "INBOX", "role": "inbox"}, {"name": "Sent", "role": "sent"}],
            sending={"signature": "custom", "signature_text": "Acme Support"})
    wrong = account(pg_dsn, f"f-{unique}", smtp=smtp_settings(from_address=f"someone-else-{unique}@{DOMAIN}"))
    bot, peer, visitor, customer = f"bot-{unique}", f"peer-{unique}", f"visitor-{unique}", f"cust-{unique}"
    procs = flow()
    harness = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))

    # Two autoresponders, ours (d) and a remote one (peer): a person at each writes to the other.
    submit(d, f"{peer}@example.org", "hello peer")
    submit(peer, f"{d}@{DOMAIN}", "hello d")
    # Two mailboxes of this deployment: a person at each writes to the other.
    submit(a, f"{b}@{DOMAIN}", "hello b")
    submit(b, f"{a}@{DOMAIN}", "hello a")
    # A remote autoresponder without Auto-Submitted: it answers every mail from c.
    submit(bot, f"{c}@{DOMAIN}", "question")
    # Out of office: a visitor writes twice.
    submit(visitor, f"{e}@{DOMAIN}", "first")
    submit(visitor, f"{e}@{DOMAIN}", "second")
    # CRM mail from a case, and one whose From the server refuses.
    crm = OutboundMail(outbound_id=uuid.uuid4(), mailbox_id=group, to=[Address(address=f"{customer}@example.org")],
                       subject="Your pallet", text_body="It ships today.", case_id="case-1")
    refused = OutboundMail(outbound_id=uuid.uuid4(), mailbox_id=wrong,
                           to=[Address(address=f"{customer}@example.org")], subject="Quote", text_body="Attached.")
    for mail in (crm, refused):
        harness.produce(flow.topics["outbound"], str(mail.outbound_id).encode(),
                        encode(OutboundEnvelope(producer="crm", payload=mail)))

    answered: set[str] = set()
    peer_answered: set[str] = set()
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 25:  # the remote sides answer until all is silent for 25 s
        for reply in autoreplies(bot):  # the bot answers every mail, without Auto-Submitted
            if reply["Message-ID"] not in answered:
                answered.add(reply["Message-ID"])
                submit(bot, f"{c}@{DOMAIN}", f"Re: {reply['Subject']}", in_reply_to=reply["Message-ID"])
                quiet_since = time.monotonic()
        for mail in inbox(peer, 0, timeout=0):  # the peer answers mail that is not automatic, once
            if mail["Message-ID"] not in peer_answered and mail["Auto-Submitted"] is None:
                peer_answered.add(mail["Message-ID"])
                submit_autoreply(peer, mail)
                quiet_since = time.monotonic()
        assert all(p.alive() for p in procs.values())
        time.sleep(1)

    assert [m["From"] for m in autoreplies(peer)] == [f"{d}@{DOMAIN}"]  # ours answered the peer's person
    assert [m["From"] for m in autoreplies(d)] == [f"{peer}@{DOMAIN}"]  # theirs answered ours, once
    assert sent(pg_dsn, d) == 1  # ... and ours did not answer their autoresponse
    assert autoreplies(a) == autoreplies(b) == [] and (sent(pg_dsn, a), sent(pg_dsn, b)) == (0, 0)
    with psycopg.connect(pg_dsn) as conn:  # both were read and decided: not answered as own mailboxes
        assert conn.execute("SELECT count(*) FROM email_sightings WHERE mailbox_id = ANY(%s)",
                            ([a, b, d],)).fetchone() == (4,)
    assert len(answered) == 5 and sent(pg_dsn, c) == 5  # the matcher's limit: 5 per sender per 2 hours
    notices = [m for m in inbox(visitor, 1) if m["Auto-Submitted"] == "auto-replied"]
    # once per period: Postfix may deliver the two in either order, so either is the one answered
    assert len(notices) == 1 and notices[0]["Subject"] in ("Away: first", "Away: second")
    assert until(lambda: sent(pg_dsn, e, "suppressed"), procs) == 1  # the second: once per period

    [got] = [m for m in inbox(customer, 1) if m["Subject"] == "Your pallet"]
    assert got["Reply-To"] == f"{group}@{DOMAIN}" and "Acme Support" in got.get_content()
    until(lambda: inbox(group, 1, timeout=0, folder="Sent"), procs)  # the fetcher's next run appends the copy
    assert [m["Message-ID"] for m in inbox(group, 1, folder="Sent")] == [got["Message-ID"]]

    dlq = f"{flow.topics['outbound']}.dlq"
    [letter] = until(lambda: harness.read_all(dlq), procs)
    assert dict(letter.headers)["dlq-reason"] == b"smtp_refused" and b"553" in dict(letter.headers)["dlq-error"]
    account(pg_dsn, wrong)  # the operator fixes the From address (`mailpipe accounts set`)
    done = subprocess.run([sys.executable, "-m", "mailpipe", "dlq", "replay", "--topic", dlq, "--json"],
                          capture_output=True, text=True, timeout=120, env={**os.environ})
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["status"] for line in lines if "status" in line] == ["replayed"], done.stdout
    until(lambda: [m for m in inbox(customer, 2, timeout=0) if m["Subject"] == "Quote"], procs)
    assert sent(pg_dsn, wrong) == 1
    harness.close()


def test_a_sender_killed_between_acceptance_and_its_ledger_write_resends_the_same_message(
        flow: Any, pg_dsn: str, unique: str) -> None:
    box = account(pg_dsn, f"k-{unique}")
    customer = f"cust-{unique}"
    reply = Autoreply(email_id=uuid.uuid4(), mailbox_id=box, rule="ack", to=Address(address=f"{customer}@example.org"),
                      subject="Re: hi", body="Got it.")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO sender_mailboxes (mailbox_id) VALUES (%s)", (box,))
    hold = psycopg.connect(pg_dsn)  # holds the row the ledger write updates: the send completes, its record waits
    hold.execute("SELECT * FROM sender_mailboxes WHERE mailbox_id = %s FOR UPDATE", (box,))
    # short timeouts make the lease (which outlasts the longest send) short: 5 x 2 + 4 x 4 = 26 s
    procs = flow("sender", MAILPIPE_SENDER__LEASE_SECONDS="10", MAILPIPE_SENDER__TIMEOUT_SECONDS="2",
                 MAILPIPE_SENDER__DATA_TIMEOUT_SECONDS="4")
    harness = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    harness.produce(flow.topics["autoreply"], str(reply.email_id).encode(),
                    encode(AutoreplyEnvelope(producer="test", payload=reply)))
    harness.close()
    [first] = until(lambda: inbox(customer, 1, timeout=0), procs)  # accepted and delivered; not yet recorded
    procs["sender"].kill(signal.SIGKILL)
    hold.rollback()
    hold.close()
    procs["sender"].start()
    outbound_id = autoreply_id(reply.email_id)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        until(lambda: conn.execute("SELECT status = 'sent' FROM outbound_sends WHERE outbound_id = %s",
                                   (outbound_id,)).fetchone()[0], procs)
        attempts = conn.execute("SELECT attempts FROM outbound_sends WHERE outbound_id = %s",
                                (outbound_id,)).fetchone()[0]
    copies = inbox(customer, 2)
    assert attempts == 2 and len(copies) == 2  # the window: one more copy, never more
    assert {m["Message-ID"] for m in copies} == {first["Message-ID"]} == {f"<mailpipe.{outbound_id.hex}@{DOMAIN}>"}
    time.sleep(5)
    assert len(inbox(customer, 3, timeout=0)) == 2  # marked sent: never again
