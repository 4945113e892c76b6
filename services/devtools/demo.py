"""``make demo``: seed a demo mailbox and CRM directory, run the five services, show what matched
and an autoresponse sent through the local Postfix and received in the customer's mailbox.

The stack must be up (the Makefile runs ``make up`` first). The services keep running after the
demo exits, so their metrics can be explored; ``make down`` stops them with the stack.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import yaml

from .. import cli
from ..common import admin, clients
from ..common.settings import PostgresSettings
from . import mailboxes, mailgen, report
from .processes import ServiceProcess, free_port, pipeline, scrape_targets_dir, write_scrape_targets

USER, MAILBOX_ID, COUNT = "demo@mailpipe.test", "demo", 220
# One customer's mail answered by the demo mailbox's autoresponse rule; the answer lands in the
# customer's own mailbox on the local Dovecot (Postfix delivers "demo-customer@..." to that user).
CUSTOMER, CUSTOMER_USER = "demo-customer@example.org", "demo-customer"
CUSTOMER_MAIL = (b"Message-ID: <where-is-my-order@example.org>\r\nFrom: Dana Customer <demo-customer@example.org>\r\n"
                 b"To: demo@mailpipe.test\r\nSubject: Where is my order?\r\nDate: Mon, 30 Nov 2026 08:00:00 +0000\r\n"
                 b"Return-Path: <demo-customer@example.org>\r\n\r\nHello, my order 1042 has not arrived yet.\r\n")
RULE = {"name": "acknowledge", "conditions": [{"field": "from", "op": "equals", "value": CUSTOMER}],
        "subject": "Re: {subject}",
        "body": "Hello {sender_name},\n\nthank you for your message: we answer within one working day.\n\n"
                "Demo support\n"}
STATE = Path(os.environ.get("MAILPIPE_STACK_STATE_DIR", ".state"))
PIDS = STATE / "services"


def main() -> int:
    started = time.monotonic()
    print("== preparing topics, database and the demo CRM directory")
    admin.create_topics()
    admin.migrate_db()
    directory_file = STATE / "demo" / "directory.yaml"
    directory_file.parent.mkdir(parents=True, exist_ok=True)
    directory_file.write_text(yaml.safe_dump(mailgen.directory(), allow_unicode=True, sort_keys=False))
    admin.load_directory(directory_file)
    _apply_demo_account()
    have = mailboxes.count(USER)
    if have < COUNT:
        print(f"== seeding {COUNT - have} emails into {USER} on the local Dovecot")
        mailboxes.append(USER, (g.raw for g in mailgen.corpus(COUNT)[have:]))
    if mailboxes.count(USER) == COUNT:
        print(f"== {CUSTOMER} writes to {USER}; the mailbox's autoresponse rule answers it")
        mailboxes.append(USER, [CUSTOMER_MAIL])
    procs = _restart_services()
    print("== pipeline running: fetcher → mail.raw → parser → mail.parsed → matcher → mail.matched → storage;\n"
          "   matcher → mail.autoreply → sender → Postfix")
    conn = clients.connect_postgres(PostgresSettings(dsn=os.environ["MAILPIPE_POSTGRES__DSN"]), autocommit=True)
    if not _drain(conn, procs, timeout=600, expected=COUNT + 1):
        print("!! the pipeline did not drain in time; see the logs in " + str(STATE / "logs"), file=sys.stderr)
        return 1
    names = {f"{e['type']}:{e['id']}": str(e["name"]) for e in mailgen.directory()}
    rows = report.matched_rows(conn, MAILBOX_ID)
    linked = [r for r in rows if r[3]]
    print(f"\n== {len(rows)} emails stored, {len(linked)} linked to the CRM directory\n")
    print(report.table(("entity", "name", "as sender", "as recipient"),
                       [(e, names.get(e, ""), s, r) for e, s, r in report.per_entity(conn, MAILBOX_ID)],
                       (12, 22, 9, 12)))
    print("\nlatest matched emails:\n")
    print(report.table(("date (UTC)", "from", "subject", "links"), linked[-15:], (16, 30, 34, 44)))
    if not _show_autoresponse(procs):
        return 1
    print("\n== metrics and health (services keep running; `make down` stops everything)")
    for p in procs.values():
        print(f"  {p.service:<8} http://127.0.0.1:{p.http_port}/metrics   /healthz   /readyz   log: {p.log_path}")
    if prometheus := os.environ.get("MAILPIPE_STACK_PROMETHEUS_URL"):
        print(f"  {'prometheus':<8} {prometheus}/alerts   /graph   (scraping the services above, alert rules loaded)")
    print(f"\ndemo finished in {time.monotonic() - started:.1f}s")
    return 0


def _apply_demo_account() -> None:
    """The demo mailbox as an operator would declare it: ``mailpipe accounts apply -f``, the
    password taken from an environment variable, push on (IMAP IDLE)."""
    spec = STATE / "demo" / "accounts.yaml"
    account = mailboxes.local_account(USER, MAILBOX_ID, name="Demo inbox", push=True, poll_interval_seconds=60,
                                      smtp=mailboxes.local_smtp(), options={"autoresponse_rules": [RULE]})
    doc = {"accounts": [{**account.model_dump(mode="json", exclude_defaults=True), "password_env": "DEMO_PASSWORD"}]}
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.environ["DEMO_PASSWORD"] = mailboxes.stack_env("MAILPIPE_STACK_MAIL_PASSWORD")
    print(f"== mailpipe accounts apply -f {spec}")
    if cli.main(["accounts", "apply", "-f", str(spec)]) != 0:
        raise SystemExit("the demo account did not pass its connection check")


def _restart_services() -> dict[str, ServiceProcess]:
    PIDS.mkdir(parents=True, exist_ok=True)
    _stop_previous()
    procs = pipeline({}, STATE / "logs", {s: free_port() for s in cli.SERVICES})
    for p in procs.values():
        p.start()
        assert p.proc is not None
        (PIDS / f"{p.service}.pid").write_text(str(p.proc.pid))
    write_scrape_targets(scrape_targets_dir(STATE), "demo", procs)
    return procs


def _stop_previous() -> None:
    import signal

    for pid_file in PIDS.glob("*.pid"):
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        pid_file.unlink()


def _show_autoresponse(procs: dict[str, ServiceProcess], timeout: float = 120) -> bool:
    """Wait for the autoresponse in the customer's mailbox and print what arrived."""
    deadline = time.monotonic() + timeout
    while (reply := mailboxes.latest_autoreply(CUSTOMER_USER)) is None:
        if time.monotonic() > deadline or not procs["sender"].alive():
            print(f"!! no autoresponse reached {CUSTOMER}; see {procs['sender'].log_path}", file=sys.stderr)
            return False
        time.sleep(1)
    print(f"\n== autoresponse sent by the sender through Postfix and received in {CUSTOMER}'s mailbox:\n")
    for name in ("From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "Auto-Submitted"):
        print(f"   {name + ':':<16}{reply[name]}")
    print("\n   " + "\n   ".join(str(reply.get_content()).strip().splitlines()))
    print(f"\n   sender: {procs['sender'].metric('mailpipe_sender_messages_sent_total'):.0f} sent by this run "
          "(a rerun sends none: the send ledger already has it)")
    return True


def _drain(conn: object, procs: dict[str, ServiceProcess], timeout: float, expected: int) -> bool:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        stored = conn.execute("SELECT count(*) FROM email_sightings WHERE mailbox_id = %s",  # type: ignore[attr-defined]
                              (MAILBOX_ID,)).fetchone()[0]
        line = (f"   fetched {procs['fetcher'].metric('mailpipe_fetcher_messages_fetched_total'):>4.0f}"
                f"   parsed {procs['parser'].metric('mailpipe_runtime_records_consumed_total'):>4.0f}"
                f"   matched {procs['matcher'].metric('mailpipe_runtime_records_consumed_total'):>4.0f}"
                f"   stored {stored:>4}/{expected}")
        if line != last:
            print(line, flush=True)
            last = line
        if stored >= expected:
            return True
        dead = [p.service for p in procs.values() if not p.alive()]
        if dead:
            print(f"!! service(s) exited: {', '.join(dead)}", file=sys.stderr)
            return False
        time.sleep(1)
    return False


if __name__ == "__main__":
    sys.exit(main())
