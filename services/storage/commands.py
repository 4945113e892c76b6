"""``mailpipe retention run [--dry-run]``: apply every mailbox's retention limits now (reference
000), with the mailboxes read from ``mail.mailboxes``; prints what was (or would be) deleted."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import UTC, date, datetime
from typing import Any

from ..common import clients, logs
from ..common.errors import ConfigError
from ..common.follower import MailboxFollower
from ..common.mailboxes import Mailboxes
from ..common.settings import load, masked
from .reads import Viewer, list_emails
from .retention import run_retention
from .settings import StorageSettings
from .unreferenced import SweepPolicy

log = logging.getLogger(__name__)


def add_retention(p: argparse.ArgumentParser) -> None:
    """The ``retention`` subcommand's arguments."""
    p.add_argument("action", choices=["run"])
    p.add_argument("--dry-run", action="store_true", help="report what would be deleted; delete nothing")
    p.add_argument("--batch", type=int, default=500, help="rows per transaction")
    p.set_defaults(handler=run)


def add_emails(e: argparse.ArgumentParser) -> None:
    """The ``emails`` subcommand's arguments."""
    e.add_argument("action", choices=["list", "serve"],
                   help="list: print as JSON; serve: the same reads as a read-only HTTP API (GET /emails, "
                        "/openapi.json, and /healthz, /readyz for probes) on MAILPIPE_STORAGE__API_HOST/_PORT "
                        "with MAILPIPE_STORAGE__API_TOKEN; SIGTERM drains it within "
                        "MAILPIPE_STORAGE__API_DRAIN_GRACE_SECONDS")
    e.add_argument("--entity", default=None,
                   help="TYPE:ID, e.g. company:42 (person, company, task, case, lead, opportunity)")
    e.add_argument("--mailbox", default=None)
    e.add_argument("--date", type=date.fromisoformat, default=None, help="YYYY-MM-DD (UTC)")
    e.add_argument("--as-user", default=None,
                   help="apply this user's access level (reference 001) and the mailboxes' access lists (002)")
    e.add_argument("--access", choices=["no", "own", "team", "all"], default="own", help="the user's level")
    e.add_argument("--user-address", action="append", default=[], help="an address of the user (repeatable)")
    e.add_argument("--user-team", action="append", default=[], help="a team of the user (repeatable)")
    e.add_argument("--limit", type=int, default=100)
    e.set_defaults(handler=list_command)


def load_mailboxes(settings: StorageSettings, timeout_seconds: float) -> Mailboxes:
    """Every mailbox on ``mail.mailboxes`` (the compacted topic read to its end)."""
    mailboxes, stop = Mailboxes(), threading.Event()
    follower = MailboxFollower(clients.make_consumer(settings.kafka, group_id=None), mailboxes)
    follower.start(stop)
    try:
        if not follower.caught_up.wait(timeout_seconds):
            raise ConfigError(f"mail.mailboxes not loaded within {timeout_seconds:.0f} s")
    finally:
        stop.set()
    return mailboxes


def run(args: argparse.Namespace) -> dict[str, Any]:
    """What ``retention run`` deleted (or, with --dry-run, would delete)."""
    settings = load(StorageSettings)
    mailboxes = load_mailboxes(settings, settings.storage.ready_timeout_seconds)
    policies = {m: c.options for m, c in mailboxes.configs.items()}
    with clients.connect_postgres(settings.postgres, autocommit=True) as conn:
        report = run_retention(conn, clients.make_s3(settings.s3), settings.s3.bucket, policies,
                               datetime.now(UTC), dry_run=args.dry_run, batch=args.batch,
                               sweep=None if args.dry_run else SweepPolicy.from_options(settings.storage))
    return {"dry_run": args.dry_run, "sightings": report.sightings, "emails": report.emails,
            "attachments": report.attachments, "objects": report.objects}


def list_command(args: argparse.Namespace) -> Any:
    """``emails list``: the rows; ``emails serve``: the server's exit status once drained."""
    if args.action == "serve":
        return serve()
    entity = None
    if args.entity:
        etype, sep, eid = args.entity.partition(":")
        if not sep or not eid:
            raise ConfigError(f"--entity {args.entity!r}: expected TYPE:ID, e.g. company:42")
        entity = (etype, eid)
    viewer = (Viewer(args.as_user, args.access, tuple(args.user_address), tuple(args.user_team))
              if args.as_user else None)
    settings = load(StorageSettings)
    with clients.connect_postgres(settings.postgres, autocommit=True) as conn:
        rows = list_emails(conn, viewer, entity, args.mailbox, args.date, args.limit)
    return rows


def serve() -> int:
    """``mailpipe emails serve`` until SIGTERM or SIGINT, which drain it: readiness off, no new
    connections, requests in flight finish within the grace. Returns 0 after the drain, with one
    JSON line (``stopped``, how many requests were cut)."""
    from .http import make_server
    from .probes import postgres_check

    settings = load(StorageSettings)
    logs.configure(settings.log.level)  # a long-running server: its errors as JSON lines, with their fields
    opts = settings.storage
    token = opts.api_token.get_secret_value()
    if not token:
        raise ConfigError("MAILPIPE_STORAGE__API_TOKEN must be set to serve the email API")
    if opts.api_max_connections < opts.api_workers:
        raise ConfigError("MAILPIPE_STORAGE__API_MAX_CONNECTIONS must be at least MAILPIPE_STORAGE__API_WORKERS")
    try:
        server = make_server(opts.api_host, opts.api_port, token, lambda: clients.connect_postgres(settings.postgres),
                             workers=opts.api_workers, socket_timeout_seconds=opts.api_socket_timeout_seconds,
                             max_connections=opts.api_max_connections,
                             ready_check=postgres_check(settings.postgres, opts.api_ready_timeout_seconds))
    except OSError as exc:  # taken, or not an address of this host: no restart fixes it
        raise ConfigError(f"MAILPIPE_STORAGE__API_HOST/MAILPIPE_STORAGE__API_PORT {opts.api_host}:{opts.api_port}: "
                          f"cannot listen ({exc.strerror or exc})") from None
    for sig in (signal.SIGTERM, signal.SIGINT):  # the handler only sets flags: serve_forever returns
        signal.signal(sig, lambda *_: server.begin_drain())
    url = f"http://{opts.api_host}:{server.server_address[1]}"
    log.info("starting", extra={"stage": "emails-api", "settings": masked(settings), "url": f"{url}/emails"})
    print(f"serving {url}/emails (read-only)", flush=True)
    try:
        server.serve_forever()
        cut = server.drain(opts.api_drain_grace_seconds)
    finally:
        server.server_close()
    log.info("stopped", extra={"stage": "emails-api", "cut": cut})
    return 0
