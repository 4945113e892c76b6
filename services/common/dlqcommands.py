"""``mailpipe dlq list|show|replay``: read and replay the ``*.dlq`` topics (docs/operations.md).

list and show print to stdout (text, or JSON lines with ``--json``); replay prints one line per
dead letter and a summary on stdout, and its progress on stderr. Exit codes: 0 done, 1 a record
was not found or not replayed, 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import clients, dlqview
from .dlqledger import ReplayLedger, ensure_topic
from .dlqreplay import FAILED, NOT_FOUND, Replayer
from .dlqtool import DeadLetterId, DeadLetterReader, Selection, dlq_topics, parse_since
from .errors import ConfigError, TransientError
from .settings import ServiceSettings, load

PROGRESS_EVERY = 1000


def register(sub: Any) -> None:
    """Add the ``dlq`` subcommand (list, show, replay) to the ``mailpipe`` CLI."""
    dlq = sub.add_parser("dlq", help="list, show and replay dead letters (the *.dlq topics)")
    actions = dlq.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="one line per dead letter: id, time, source, stage, reason, error")
    _filters(listing)
    listing.add_argument("--pending", action="store_true", help="only replayable ones not replayed yet")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of text")
    listing.set_defaults(handler=_failures(list_command))
    show = actions.add_parser("show", help="one dead letter: provenance, original headers, key and value")
    show.add_argument("id", help="<topic>.dlq:<partition>:<offset>, as `dlq list` prints it")
    show.add_argument("--json", action="store_true")
    show.add_argument("--max-bytes", type=int, default=dlqview.MAX_VALUE_BYTES,
                      help=f"print at most this much of a text value (default {dlqview.MAX_VALUE_BYTES}; 0: all)")
    show.set_defaults(handler=_failures(show_command))
    replay = actions.add_parser("replay", help="send dead letters back to their source topic")
    _filters(replay)
    replay.add_argument("--ids", nargs="+", default=None, metavar="ID", help="only these dead letters")
    replay.add_argument("--dry-run", action="store_true", help="print what would be replayed; send nothing")
    replay.add_argument("--force", action="store_true", help="replay records the ledger says were replayed")
    replay.add_argument("--json", action="store_true", help="JSON lines instead of text")
    replay.add_argument("--progress-every", type=int, default=PROGRESS_EVERY, metavar="N",
                        help=f"a progress line on stderr every N records (default {PROGRESS_EVERY})")
    replay.set_defaults(handler=_failures(replay_command))


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", action="append", default=[],
                        help="a source topic or its .dlq (repeatable; default: every dead-letter topic)")
    parser.add_argument("--reason", default=None, help="the dlq-reason, e.g. unparseable")
    parser.add_argument("--stage", default=None, help="the stage that dead-lettered, e.g. parser")
    parser.add_argument("--since", default=None, help="dead-lettered since: 2h, 30m, 7d, 2026-05-01, an ISO date-time")


def list_command(args: argparse.Namespace) -> int:
    with _session(args.topic, ids=None) as session:
        ledger = ReplayLedger.load(session.consumer, session.topics)
        selection = _selection(args)
        if not args.json:
            print(dlqview.LIST_HEADER)
        for topic in session.topics:
            for letter in session.reader.read(topic, selection):
                replay = ledger.replay_of(letter)
                if args.pending and dlqview.status(letter, replay) != "pending":
                    continue
                print(json.dumps(dlqview.summary(letter, replay)) if args.json else dlqview.list_line(letter, replay))
    return 0


def show_command(args: argparse.Namespace) -> int:
    wanted = DeadLetterId.parse(args.id)
    with _session([wanted.topic], ids=[wanted]) as session:
        found = session.reader.read(wanted.topic, Selection(ids=frozenset([wanted]))) if session.topics else iter(())
        letter = next(iter(found), None)
        if letter is None:
            print(f"mailpipe dlq show: no record at {wanted} (expired, or never written)", file=sys.stderr)
            return 1
        replay = ReplayLedger.load(session.consumer, session.topics).replay_of(letter)
    if args.json:
        print(json.dumps(dlqview.detail(letter, replay), indent=2, ensure_ascii=False))
    else:
        print(dlqview.show_text(letter, replay, args.max_bytes))
    return 0


def replay_command(args: argparse.Namespace) -> int:
    ids = [DeadLetterId.parse(i) for part in args.ids or () for i in part.split(",") if i.strip()]
    counts: dict[str, int] = {}
    with _session(args.topic or [i.topic for i in ids], ids=ids) as session:
        if not args.dry_run:
            admin = clients.make_admin(session.settings.kafka)
            try:
                ensure_topic(admin)
            finally:
                admin.close()
        ledger = ReplayLedger.load(session.consumer, session.topics)
        producer = clients.make_producer(session.settings.kafka)
        try:
            replayer = Replayer(session.reader, producer, ledger, dry_run=args.dry_run, force=args.force,
                                progress=_progress, progress_every=max(1, args.progress_every))
            for outcome in replayer.run(session.topics, _selection(args, ids)):
                counts[outcome.status] = counts.get(outcome.status, 0) + 1
                print(json.dumps(outcome.__dict__) if args.json else dlqview.outcome_line(outcome), flush=True)
        finally:
            producer.close(timeout=10)
    print(json.dumps({"summary": counts}) if args.json else dlqview.summary_line(counts, args.dry_run))
    return 1 if counts.get(FAILED) or counts.get(NOT_FOUND) else 0


def _selection(args: argparse.Namespace, ids: list[DeadLetterId] | None = None) -> Selection:
    return Selection(reason=args.reason, stage=args.stage,
                     since=parse_since(args.since) if args.since else None,
                     ids=frozenset(ids) if ids else None)


def _progress(topic: str, handled: int, total: int, counts: dict[str, int]) -> None:
    print(f"mailpipe dlq replay: {topic}: {handled} of at most {total} records ({dlqview.counts_text(counts)})",
          file=sys.stderr, flush=True)


@dataclass(frozen=True)
class _Session:
    settings: ServiceSettings
    topics: list[str]
    reader: DeadLetterReader
    consumer: Any


@contextlib.contextmanager
def _session(named: list[str], ids: list[DeadLetterId] | None) -> Iterator[_Session]:
    """The dead-letter topics of ``named`` that exist, a reader, and its group-less consumer
    (closed without committing). A topic named explicitly that the broker lacks is a ConfigError
    (not for ids: an id of a missing topic is reported as not found)."""
    settings = load(ServiceSettings)
    consumer = clients.make_consumer(settings.kafka, group_id=None)
    try:
        reader = DeadLetterReader(consumer, stall_seconds=2 * settings.kafka.request_timeout_seconds)
        wanted = dlq_topics(named)
        topics = reader.existing(wanted)
        missing = sorted(set(wanted) - set(topics))
        if named and missing and not ids:
            raise ConfigError(f"no such topic: {', '.join(missing)}")
        yield _Session(settings, topics, reader, consumer)
    finally:
        consumer.close(autocommit=False)


def _failures(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Kafka and transient failures print one line and exit 1 instead of a traceback."""
    def run(args: argparse.Namespace) -> int:
        from kafka.errors import KafkaError

        try:
            return handler(args)
        except (TransientError, KafkaError) as exc:
            print(f"mailpipe dlq {args.action}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    return run
