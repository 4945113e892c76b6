"""``mailpipe match --directory FILE [--mailbox-config FILE] EMAIL.eml...``: each email's links,
reasons and actions, without Kafka or PostgreSQL, through the services' own code (the parser's,
then the matcher's rules). The emails are matched in the order given against one in-memory state,
so a thread's later emails join the case its first one created, as they would in the service.
One email: one JSON document; several: one JSON object per line (JSON Lines), an error object for
a file that cannot be read or parsed."""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

from ..common.admin import read_entities
from ..common.errors import PoisonMessage
from ..common.mailboxes import Mailboxes
from ..common.messages import Sighting
from ..matcher.configfiles import read_mailbox_config
from ..matcher.directory import EntityIndex
from ..matcher.matching import Matcher
from ..parser.mime import parse_email


def add_match(p: argparse.ArgumentParser) -> None:
    """The ``match`` subcommand's arguments."""
    p.add_argument("--directory", type=Path, required=True, help="CRM directory, YAML, JSON or CSV")
    p.add_argument("--mailbox-config", type=Path, default=None,
                   help="YAML/JSON: a mailbox (mail.mailboxes payload), a list of them, or "
                        "{mailboxes: [...], global_filters: [...]}")
    p.add_argument("--mailbox", default=None, help="the mailbox the emails arrived at (default: the first one)")
    p.add_argument("emails", type=Path, nargs="+", metavar="EMAIL.eml")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> Any:
    """One email: its decision, or exit status 1 with the error on stderr. Several: a stream of
    lines, exit status 1 at the end when any file failed."""
    index = EntityIndex()
    for entity in read_entities(args.directory):
        index.upsert(entity)
    boxes, global_filters = read_mailbox_config(args.mailbox_config)
    mailbox_id = args.mailbox or (boxes[0].mailbox_id if boxes else "cli")
    matcher = Matcher(index, Mailboxes({b.mailbox_id: b for b in boxes}), global_filters=global_filters)
    lines = _decisions(matcher, mailbox_id, args.emails)
    if len(args.emails) > 1:
        return lines
    only = next(lines)
    if "error" in only:
        print(f"mailpipe match: {only['file']}: {only['error']['detail']}", file=sys.stderr)
        return 1
    return only


def _decisions(matcher: Matcher, mailbox_id: str, paths: list[Path]) -> Generator[dict[str, Any], None, int]:
    failed = False
    for n, path in enumerate(paths, start=1):
        try:
            raw = path.read_bytes()
            sighting = Sighting(mailbox_id=mailbox_id, folder="INBOX", uidvalidity=1, uid=n)
            parsed = parse_email(raw, sighting, sha256=hashlib.sha256(raw).hexdigest())
        except OSError as exc:
            failed = True
            yield {"file": str(path), "error": {"reason": "unreadable", "detail": exc.strerror or str(exc)}}
            continue
        except PoisonMessage as exc:
            failed = True
            yield {"file": str(path), "error": {"reason": exc.reason, "detail": exc.detail}}
            continue
        d = matcher.match(parsed)
        yield {"file": str(path), "email_id": str(parsed.email_id), "message_id": parsed.message_id,
               "subject": parsed.subject, "mailbox_id": mailbox_id, "skipped": d.skipped,
               "links": [lk.model_dump() for lk in d.links],
               "actions": [a.model_dump(exclude_defaults=True) for a in d.actions],
               "autoreply": d.autoreply.model_dump(mode="json", by_alias=True) if d.autoreply else None}
    return 1 if failed else 0
