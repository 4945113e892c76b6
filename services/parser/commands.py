"""``mailpipe parse FILE.eml``: the parsed message as JSON, without Kafka (for operators asking
why a message looks the way it does)."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

from ..common.errors import PoisonMessage
from ..common.messages import Sighting
from .mime import parse_email


def register(sub: Any) -> None:
    """Add the ``parse`` subcommand to the ``mailpipe`` CLI."""
    parse = sub.add_parser("parse", help="parse an .eml file and print the mail.parsed payload as JSON")
    parse.add_argument("file", type=Path)
    parse.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raw = args.file.read_bytes()
    sighting = Sighting(mailbox_id="file", folder=args.file.name.replace(":", "_"), uidvalidity=0, uid=0)
    try:
        parsed = parse_email(raw, sighting, sha256=hashlib.sha256(raw).hexdigest())
    except PoisonMessage as exc:
        print(f"mailpipe parse: dead letter ({exc.reason}): {exc.detail}", file=sys.stderr)
        return 1
    print(parsed.model_dump_json(by_alias=True, indent=2))
    return 0
