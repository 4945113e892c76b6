"""``mailpipe parse FILE.eml``: the parsed message as JSON, without Kafka (for operators asking
why a message looks the way it does). It runs the stage's own parse on a ``mail.raw``-shaped
record, so it prints exactly the payload the stage emits (attachment keys included, nothing
stored)."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

from ..common.errors import PoisonMessage
from ..common.runtime.ports import Record
from ..common.topics import RAW
from .stage import HEADERS_ONLY, ParseStage


def register(sub: Any) -> None:
    """Add the ``parse`` subcommand to the ``mailpipe`` CLI."""
    parse = sub.add_parser("parse", help="parse an .eml file and print the mail.parsed payload as JSON")
    parse.add_argument("file", type=Path)
    parse.add_argument("--headers-only", metavar="REASON", default=None,
                       help="treat the file as a header block the fetcher sent alone (e.g. over_size_limit)")
    parse.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the parsed payload; exit 1 with the dead-letter reason when the stage would reject it."""
    raw = args.file.read_bytes()
    headers = [("mailbox", b"file"), ("folder", args.file.name.replace(":", "_").encode()),
               ("uidvalidity", b"0"), ("uid", b"0"), ("size", str(len(raw)).encode()),
               ("sha256", hashlib.sha256(raw).hexdigest().encode())]
    if args.headers_only:
        headers += [("fetch-outcome", HEADERS_ONLY.encode()), ("fetch-reason", args.headers_only.encode())]
    record = Record(RAW, 0, 0, b"file", raw, headers)
    try:
        parsed = ParseStage(_no_claim_checks).parse(record)
    except PoisonMessage as exc:
        print(f"mailpipe parse: dead letter ({exc.reason}): {exc.detail}", file=sys.stderr)
        return 1
    print(parsed.model_dump_json(by_alias=True, indent=2))
    return 0


def _no_claim_checks(key: str) -> bytes:
    raise KeyError(key)
