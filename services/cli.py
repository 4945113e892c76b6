"""``mailpipe``: one command for every service and operator task.

This module builds the argument tree and prints what a command returns; it imports no service
code. ``COMMANDS`` names each subcommand, its help line and the function (``module:function``)
that adds its arguments and sets ``handler``; only the module of the command being run is
imported, so ``mailpipe parse`` or ``--version`` never pays for the Kafka, PostgreSQL and S3
clients. A handler (args → result) returns data and ``emit`` prints it (the one printer):

- a mapping, list or other value: one indented JSON document; exit status 0;
- a ``(document, exit status)`` tuple: the same, with that status;
- an iterator: one line per item as it comes, a ``str`` as is and anything else as compact JSON
  (JSON Lines); the exit status is the iterator's return value (0 for None);
- a ``str``: printed as is (text meant for people); exit status 0;
- an ``int``: the exit status of a handler that wrote its own output (a server, a prompt); None is 0.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .common.errors import ConfigError

SERVICES = ("fetcher", "parser", "matcher", "storage", "sender")

# name → (help line, "module:function" that adds the command's arguments and handler)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run one service until SIGTERM", "mailpipe.cli:_add_run"),
    "topics": ("Kafka topics from schemas/topics", "mailpipe.cli:_add_topics"),
    "db": ("the PostgreSQL schema", "mailpipe.cli:_add_db"),
    "directory": ("the CRM directory on crm.entities", "mailpipe.cli:_add_directory"),
    "schemas": ("JSON Schemas exported from the message models", "mailpipe.cli:_add_schemas"),
    "accounts": ("mailboxes to import from", "mailpipe.fetcher.accounts.cli:add_accounts"),
    "parse": ("parse .eml files and print the mail.parsed payload as JSON (JSON Lines for several)",
              "mailpipe.parser.commands:add_parse"),
    "match": ("print each email's links, reasons and actions (no Kafka)", "mailpipe.tools.match:add_match"),
    "retention": ("delete mails and attachments past their mailbox's limits",
                  "mailpipe.storage.commands:add_retention"),
    "emails": ("list stored emails by linked entity, mailbox and date", "mailpipe.storage.commands:add_emails"),
    "dlq": ("list, show and replay dead letters (the *.dlq topics)", "mailpipe.common.dlqcommands:add_dlq"),
    "sender": ("which mailboxes may send, and resuming one", "mailpipe.sender.commands:add_sender"),
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument tree. With ``argv`` only the command it names gets its arguments (its module
    is imported); the others appear by name and help. Without ``argv`` every command is complete."""
    parser = argparse.ArgumentParser(prog="mailpipe", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    wanted = _command_of(argv) if argv is not None else None
    for name, (help_line, target) in COMMANDS.items():
        command = sub.add_parser(name, help=help_line)
        if argv is None or name == wanted:
            module, _, function = target.partition(":")
            getattr(importlib.import_module(module), function)(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named by ``argv`` (default: the process's arguments); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        return emit(args.handler(args))
    except ConfigError as exc:
        print(f"mailpipe: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `mailpipe parse DIR | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def emit(result: object) -> int:
    """Print a handler's result on stdout as the module docstring says; returns the exit status."""
    if result is None or isinstance(result, int):
        return int(result or 0)
    if isinstance(result, str):
        print(result)
        return 0
    if isinstance(result, tuple):
        document, status = result
        emit(document)
        return int(status)
    if isinstance(result, Iterator):
        while True:
            try:
                item = next(result)
            except StopIteration as done:
                return int(done.value or 0)
            print(item if isinstance(item, str) else json.dumps(item, default=str, ensure_ascii=False), flush=True)
    print(json.dumps(result, indent=2, default=str, ensure_ascii=False))
    return 0


def _command_of(argv: Sequence[str]) -> str | None:
    # The top-level options (--help, --version) take no value, so the first word is the command.
    return next((a for a in argv if not a.startswith("-")), None)


class _Version(argparse.Action):
    """``--version``: reads the installed package's metadata only when asked (importlib.metadata
    costs as much as argparse itself, on every command)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import version

        print(f"{parser.prog} {version('mailpipe')}")
        parser.exit()


def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("service", choices=SERVICES)
    p.set_defaults(handler=lambda a: importlib.import_module("mailpipe.common.service").run_service(a.service))


def _add_topics(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["create"])
    p.add_argument("--add-partitions", action="store_true",
                   help="grow existing topics that have fewer partitions than schemas/topics declares. Not "
                        "automatic: adding partitions remaps keys to partitions, so per-key order across the "
                        "change is lost for mail in flight (drain the pipeline first); never removes any")
    p.set_defaults(handler=lambda a: _admin().create_topics(add_partitions=a.add_partitions))


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["migrate"])
    p.set_defaults(handler=lambda a: _admin().migrate_db())


def _add_directory(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["load"])
    p.add_argument("file", type=Path,
                   help="entities (type, id, name, emails, ...): a YAML or JSON list, or a CSV, one per row")
    p.set_defaults(handler=lambda a: _admin().load_directory(a.file))


def _add_schemas(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["export"])
    p.set_defaults(handler=_export_schemas)


def _admin() -> Any:
    from .common import admin

    return admin


def _export_schemas(args: argparse.Namespace) -> dict[str, list[str]]:
    from .common.schemas import export_all

    return {"written": [str(p) for p in export_all()]}


if __name__ == "__main__":
    sys.exit(main())
