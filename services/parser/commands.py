"""``mailpipe parse FILE...``: the parsed message as JSON, without Kafka (for operators asking why
a message looks the way it does, or parsing a corpus in one process). It runs the stage's own
parse (``mime.parse_email`` with the arguments ``ParseStage.parse`` derives from a ``mail.raw``
record), so it prints exactly the payload the stage emits (attachment keys included, nothing
stored). Only the parser's pure modules are imported: no Kafka, S3 or metrics."""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from ..common.errors import PoisonMessage
from ..common.messages import ParsedEmail, Sighting
from .mime import parse_email

UNREADABLE = "unreadable"  # the error reason of a file the CLI could not read (not a stage reason)


def add_parse(p: argparse.ArgumentParser) -> None:
    """The ``parse`` subcommand's arguments."""
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="an .eml file, - for standard input, or a directory (every file under it, sorted, "
                        "hidden ones skipped). One file: its payload as one JSON document. Several, or a "
                        "directory: one JSON object per line, {file, parsed} or {file, error: {reason, detail}}")
    p.add_argument("--headers-only", metavar="REASON", default=None,
                   help="treat each file as a header block the fetcher sent alone (e.g. over_size_limit)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> Any:
    """One file: its payload, or exit status 1 with the dead-letter reason on stderr. Several: a
    stream of lines, exit status 1 at the end when any file failed."""
    names: list[str] = args.files
    if len(names) == 1 and not Path(names[0]).is_dir():
        try:
            return _parse(names[0], args.headers_only).model_dump(mode="json", by_alias=True)
        except PoisonMessage as exc:
            print(f"mailpipe parse: dead letter ({exc.reason}): {exc.detail}", file=sys.stderr)
        except OSError as exc:
            print(f"mailpipe parse: {names[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return _lines(names, args.headers_only)


def _lines(names: list[str], headers_only: str | None) -> Generator[dict[str, Any], None, int]:
    failed = False
    for name in _expand(names):
        try:
            yield {"file": name, "parsed": _parse(name, headers_only).model_dump(mode="json", by_alias=True)}
        except PoisonMessage as exc:
            failed = True
            yield {"file": name, "error": {"reason": exc.reason, "detail": exc.detail}}
        except OSError as exc:
            failed = True
            yield {"file": name, "error": {"reason": UNREADABLE, "detail": exc.strerror or str(exc)}}
    return 1 if failed else 0


def _expand(names: list[str]) -> Iterator[str]:
    for name in names:
        path = Path(name)
        if name != "-" and path.is_dir():
            found = (p for p in path.rglob("*") if p.is_file())
            yield from sorted(str(p) for p in found if not any(s.startswith(".") for s in p.relative_to(path).parts))
        else:
            yield name


def _parse(name: str, headers_only: str | None) -> ParsedEmail:
    """What ``ParseStage.parse`` makes of a ``mail.raw`` record carrying the file: mailbox "file",
    the file name as folder, uidvalidity and uid 0, no internal date, no claim check."""
    raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    sighting = Sighting(mailbox_id="file", folder=Path(name).name.replace(":", "_"), uidvalidity=0, uid=0)
    return parse_email(raw, sighting, sha256=hashlib.sha256(raw).hexdigest(), size=len(raw),
                       headers_only_reason=headers_only or None)
