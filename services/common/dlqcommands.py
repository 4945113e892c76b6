"""``mailpipe dlq list|show|replay``: read and replay the ``*.dlq`` topics (docs/operations.md).

The handlers return what the CLI prints: list and replay stream one line per dead letter (text,
or a JSON object with ``--json``), replay ending with a summary line and reporting its progress on
stderr; show returns the text block or the JSON document. Exit codes: 0 done, 1 a record was not
found or not replayed, 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from . import clients, dlqview
from .dlqledger import ReplayLedger, ensure_topic
from .dlqreplay import FAILED, NOT_FOUND, Replayer
from .dlqtool import DeadLetterId, DeadLetterReader, Selection, dlq_topics, parse_since
from .errors import ConfigError, TransientError
from .settings import ServiceSettings, load

PROGRESS_EVERY = 1000


def add_dlq(dlq: argparse.ArgumentParser) -> None:
    """The ``dlq`` subcommand's actions (list, show, replay) and their arguments."""
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


def list_command(args: argparse.Namespace) -> Iterator[Any]:
    """A header and one text line per dead letter, or one summary object each with --json."""
    with _session(args.topic, ids=None) as session:
        ledger = ReplayLedger.load(session.consumer, session.topics)
        selection = _selection(args)
        if not args.json:
            yield dlqview.LIST_HEADER
        for topic in session.topics:
            for letter in session.reader.read(topic, selection):
                replay = ledger.replay_of(letter)
                if args.pending and dlqview.status(letter, replay) != "pending":
                    continue
                yield dlqview.summary(letter, replay) if args.json else dlqview.list_line(letter, replay)


def show_command(args: argparse.Namespace) -> Any:
    """One dead letter as text, or its JSON document with --json; exit status 1 when not found."""
    wanted = DeadLetterId.parse(args.id)
    with _session([wanted.topic], ids=[wanted]) as session:
        found = session.reader.read(wanted.topic, Selection(ids=frozenset([wanted]))) if session.topics else iter(())
        letter = next(iter(found), None)
        if letter is None:
            print(f"mailpipe dlq show: no record at {wanted} (expired, or never written)", file=sys.stderr)
            return 1
        replay = ReplayLedger.load(session.consumer, session.topics).replay_of(letter)
    return dlqview.detail(letter, replay) if args.json else dlqview.show_text(letter, replay, args.max_bytes)


def replay_command(args: argparse.Namespace) -> Generator[Any, None, int]:
    """One line (or object) per dead letter as it is replayed, then the summary; exit status 1
    when any was not found or not replayed."""
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
                yield dict(outcome.__dict__) if args.json else dlqview.outcome_line(outcome)
        finally:
            producer.close(timeout=10)
    yield {"summary": counts} if args.json else dlqview.summary_line(counts, args.dry_run)
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


def _failures(handler: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace], Any]:
    """Kafka and transient failures print one line and exit 1 instead of a traceback, also when
    they happen while the CLI prints a stream (the lines already printed stay)."""
    def run(args: argparse.Namespace) -> Any:
        try:
            result = handler(args)
        except Exception as exc:
            return _failed(args, exc)
        return _guarded(args, result) if isinstance(result, Generator) else result
    return run


def _guarded(args: argparse.Namespace, lines: Generator[Any, None, Any]) -> Generator[Any, None, int]:
    try:
        return int((yield from lines) or 0)
    except Exception as exc:
        return _failed(args, exc)


def _failed(args: argparse.Namespace, exc: Exception) -> int:
    from kafka.errors import KafkaError

    if not isinstance(exc, (TransientError, KafkaError)):
        raise exc
    print(f"mailpipe dlq {args.action}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1
