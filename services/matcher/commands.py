"""``mailpipe match --directory FILE [--mailbox-config FILE] EMAIL.eml...``: each email's links,
reasons and actions, without Kafka or PostgreSQL, through the service's own rule code. The emails
are matched in the order given against one in-memory state, so a thread's later emails join the
case its first one created, as they would in the service."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from ..common.admin import read_entities
from ..common.messages import Sighting
from .configfiles import read_mailbox_config
from .directory import EntityIndex
from .follower import Mailboxes
from .stage import Matcher


def register(sub: Any) -> None:
    """Add the ``match`` subcommand to the ``mailpipe`` CLI."""
    p = sub.add_parser("match", help="print each email's links, reasons and actions (no Kafka)")
    p.add_argument("--directory", type=Path, required=True, help="CRM directory, YAML, JSON or CSV")
    p.add_argument("--mailbox-config", type=Path, default=None,
                   help="YAML/JSON: a mailbox (mail.mailboxes payload), a list of them, or "
                        "{mailboxes: [...], global_filters: [...]}")
    p.add_argument("--mailbox", default=None, help="the mailbox the emails arrived at (default: the first one)")
    p.add_argument("emails", type=Path, nargs="+", metavar="EMAIL.eml")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..parser.mime import parse_email

    index = EntityIndex()
    for entity in read_entities(args.directory):
        index.upsert(entity)
    boxes, global_filters = read_mailbox_config(args.mailbox_config)
    mailbox_id = args.mailbox or (boxes[0].mailbox_id if boxes else "cli")
    matcher = Matcher(index, Mailboxes({b.mailbox_id: b for b in boxes}), global_filters=global_filters)
    status = 0
    for n, path in enumerate(args.emails, start=1):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            print(f"mailpipe match: {path}: {exc}", file=sys.stderr)
            status = 1
            continue
        sighting = Sighting(mailbox_id=mailbox_id, folder="INBOX", uidvalidity=1, uid=n)
        parsed = parse_email(raw, sighting, sha256=hashlib.sha256(raw).hexdigest())
        d = matcher.match(parsed)
        out = {"file": str(path), "email_id": str(parsed.email_id), "message_id": parsed.message_id,
               "subject": parsed.subject, "mailbox_id": mailbox_id, "skipped": d.skipped,
               "links": [lk.model_dump() for lk in d.links],
               "actions": [a.model_dump(exclude_defaults=True) for a in d.actions],
               "autoreply": d.autoreply.model_dump(mode="json", by_alias=True) if d.autoreply else None}
        print(json.dumps(out, indent=2, ensure_ascii=False, default=str))
    return status
