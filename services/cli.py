"""``mailpipe``: one command for every service and operator task.

Each subsystem adds its own subcommands through a ``register(subparsers)`` function in the
modules listed in ``COMMAND_MODULES``; a registered command sets ``handler`` (args → exit code).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .common.errors import ConfigError

SERVICES = ("fetcher", "parser", "matcher", "storage")
COMMAND_MODULES = ("mailpipe.fetcher.accounts.cli", "mailpipe.parser.commands", "mailpipe.matcher.commands",
                   "mailpipe.storage.commands", "mailpipe.common.dlqcommands")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailpipe", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('mailpipe')}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one service until SIGTERM")
    run.add_argument("service", choices=SERVICES)
    run.set_defaults(handler=lambda a: importlib.import_module("mailpipe.common.service").run_service(a.service))
    topics = sub.add_parser("topics", help="Kafka topics from schemas/topics")
    topics.add_argument("action", choices=["create"])
    topics.add_argument("--add-partitions", action="store_true",
                        help="grow existing topics that have fewer partitions than schemas/topics declares. Not "
                             "automatic: adding partitions remaps keys to partitions, so per-key order across the "
                             "change is lost for mail in flight (drain the pipeline first); never removes any")
    topics.set_defaults(handler=lambda a: print_json(_admin().create_topics(add_partitions=a.add_partitions)))
    db = sub.add_parser("db", help="the PostgreSQL schema")
    db.add_argument("action", choices=["migrate"])
    db.set_defaults(handler=lambda a: print_json(_admin().migrate_db()))
    directory = sub.add_parser("directory", help="the CRM directory on crm.entities")
    directory.add_argument("action", choices=["load"])
    directory.add_argument("file", type=Path,
                           help="entities (type, id, name, emails, ...): a YAML or JSON list, or a CSV, one per row")
    directory.set_defaults(handler=lambda a: print_json(_admin().load_directory(a.file)))
    schemas = sub.add_parser("schemas", help="JSON Schemas exported from the message models")
    schemas.add_argument("action", choices=["export"])
    schemas.set_defaults(handler=_export_schemas)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"mailpipe: {exc}", file=sys.stderr)
        return 2


def print_json(result: object) -> int:
    """Print ``result`` as indented JSON on stdout; returns exit code 0."""
    print(json.dumps(result, indent=2, default=str, ensure_ascii=False))
    return 0


def _admin() -> Any:
    from .common import admin

    return admin


def _export_schemas(args: argparse.Namespace) -> int:
    from .common.schemas import export_all

    return print_json({"written": [str(p) for p in export_all()]})


if __name__ == "__main__":
    sys.exit(main())
