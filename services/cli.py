"""``mailpipe``: one command for every service and operator task."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from .common.errors import ConfigError

SERVICES = ("fetcher", "parser", "matcher", "storage")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mailpipe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one service until SIGTERM")
    run.add_argument("service", choices=SERVICES)
    topics = sub.add_parser("topics", help="Kafka topics from schemas/topics")
    topics.add_argument("action", choices=["create"])
    db = sub.add_parser("db", help="the PostgreSQL schema")
    db.add_argument("action", choices=["migrate"])
    directory = sub.add_parser("directory", help="the CRM directory on crm.entities")
    directory.add_argument("action", choices=["load"])
    directory.add_argument("file", type=Path, help="YAML or JSON list of entities (type, id, name, emails)")
    schemas = sub.add_parser("schemas", help="JSON Schemas exported from the message models")
    schemas.add_argument("action", choices=["export"])
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return int(importlib.import_module(f"mailpipe.{args.service}.app").main())
        if args.command == "topics":
            from .common.admin import create_topics
            return _print(create_topics())
        if args.command == "db":
            from .common.admin import migrate_db
            return _print(migrate_db())
        if args.command == "directory":
            from .common.admin import load_directory
            return _print(load_directory(args.file))
        if args.command == "schemas":
            from .common.schemas import export_all
            return _print({"written": [str(p) for p in export_all()]})
    except ConfigError as exc:
        print(f"mailpipe: {exc}", file=sys.stderr)
        return 2
    return 2


def _print(result: object) -> int:
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
