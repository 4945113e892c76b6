"""One crash run of issue 5's workload against one state design; bench/faust_state.py runs three.

Each run gets its own topics (input, dead letters, mail.matched, mail.autoreply), publishes the
2,000 emails first, starts the matcher, SIGKILLs it at five random progress points (restarting it
each time), waits until every input offset is committed, stops it with SIGTERM and tallies what it
wrote (read with isolation_level=read_committed, as a consumer of a transactional producer reads).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from mailpipe.common import clients
from mailpipe.common.messages import EntityEnvelope, MailboxEnvelope, ParsedEnvelope, encode
from mailpipe.common.topics import ENTITIES, MAILBOXES
from mailpipe.devtools.processes import ServiceProcess, free_port
from mailpipe.devtools.scratchdb import scratch_database

from tests.support.harness import KafkaHarness
from tests.support.matcher_crash import (
    Tally,
    crash_directory,
    crash_emails,
    crash_mailbox,
    crash_users,
    kill_points,
    publish,
    tally,
)

PARTITIONS = 3
WORKER = Path(__file__).resolve().parent / "worker.py"
COMMITTED = {"isolation_level": "read_committed"}


@dataclass
class Outcome:
    """A run's tally, or why it did not finish, with what the tally cannot see."""

    name: str
    tally: Tally | None = None
    round_robin_advances: int | None = None
    dead_letters: int = 0
    kills: int = 0
    committed: int = 0  # input offsets committed at the end (2,000 = all)
    seconds: float = 0.0
    error: str | None = None
    log: Path | None = None
    notes: list[str] = field(default_factory=list)


class Run:
    """The topics, mailbox and workload of one run, named after ``unique``."""

    def __init__(self, h: KafkaHarness, unique: str, log_dir: Path) -> None:
        self.h, self.unique, self.log_dir = h, unique, log_dir
        self.box, self.team = f"crash-{unique}", f"team-{unique}"
        self.input, self.matched, self.autoreply = (f"t{unique}.{t}" for t in ("parsed", "matched", "autoreply"))
        self.dlq = f"{self.input}.dlq"
        for topic in (self.input, self.dlq, self.matched, self.autoreply):
            h.create_topic(topic, PARTITIONS)
        self.users = crash_users(unique)
        self.entities = crash_directory(self.team, self.users)
        self.config = crash_mailbox(self.box, self.team)
        self.emails = crash_emails(self.box, unique)
        producer = clients.make_producer(h.settings)
        try:
            self.ends = publish(producer, self.input, [
                (self.box.encode(), encode(ParsedEnvelope(email_id=e.email_id, producer="bench", payload=e)))
                for e in self.emails])
        finally:
            producer.close()
        self._probe: Any = None
        self._last = (-1, 0.0)

    def end_offsets(self, topic: str) -> int:
        """Records written to ``topic`` so far (its end offsets, summed)."""
        from kafka.structs import TopicPartition

        if self._probe is None:
            self._probe = clients.make_consumer(self.h.settings, None)
        return int(sum(self._probe.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)]).values()))

    def committed(self, group: str) -> int:
        """Input offsets ``group`` committed, summed over the partitions (2,000 = all)."""
        return sum(self.h.committed(group, self.input, p) or 0 for p in self.ends)

    def committed_all(self, group: str) -> bool:
        """Whether ``group`` committed every input offset."""
        return all((self.h.committed(group, self.input, p) or 0) >= end for p, end in self.ends.items())

    def settled(self, quiet_seconds: float = 15) -> bool:
        """Every email has a mail.matched record and none was written for ``quiet_seconds``."""
        n, now = self.end_offsets(self.matched), time.monotonic()
        if n != self._last[0]:
            self._last = (n, now)
            return False
        if now - self._last[1] < quiet_seconds:
            return False
        return len({r.key for r in self.h.read_all(self.matched)}) >= len(self.emails)

    def crash(self, start: Callable[[], None], kill: Callable[[int], None], alive: Callable[[], bool],
              progress: Callable[[], int], done: Callable[[], bool], group: str, out: Outcome,
              timeout: float = 600) -> None:
        """Start; SIGKILL and restart at each kill point (``progress``: decisions made); wait until
        ``done``; SIGTERM; tally."""
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        start()
        try:
            for point in kill_points(self.unique, len(self.emails)):
                while progress() < point:
                    if not alive():
                        raise RuntimeError(f"the worker exited on its own before {point}")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"no progress to {point} (at {progress()})")
                    time.sleep(0.05)
                kill(signal.SIGKILL)
                out.kills += 1
                start()
            while not done():
                if not alive():
                    raise RuntimeError("the worker exited on its own before finishing")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not finished after {timeout:.0f} s")
                time.sleep(0.5)
        except Exception as exc:
            out.error = f"{type(exc).__name__}: {exc}"
        finally:
            out.seconds = time.monotonic() - started
            kill(signal.SIGTERM)
            out.committed = self.committed(group)
            if self._probe is not None:
                self._probe.close()
        out.tally = tally(self.box, self.emails, (r.value or b"" for r in self.h.read_all(self.matched, **COMMITTED)),
                          (r.value or b"" for r in self.h.read_all(self.autoreply, **COMMITTED)))
        out.dead_letters = len(self.h.read_all(self.dlq, **COMMITTED))


def run_postgres(h: KafkaHarness, unique: str, base_dsn: str, log_dir: Path) -> Outcome:
    """The service (``mailpipe run matcher``): state in PostgreSQL, written with each decision."""
    out, run = Outcome("PostgreSQL (service)"), Run(h, unique, log_dir)
    try:
        with scratch_database(base_dsn, name=f"bench_{unique}") as dsn:
            producer = clients.make_producer(h.settings)
            try:
                publish(producer, ENTITIES, [(e.key.encode(), encode(EntityEnvelope(producer="bench", payload=e)))
                                             for e in run.entities])
                publish(producer, MAILBOXES, [(run.box.encode(),
                                               encode(MailboxEnvelope(producer="bench", payload=run.config)))])
            finally:
                producer.close()
            group = f"matcher-bench-{unique}"
            out.log = log_dir / f"matcher-{unique}.log"
            proc = ServiceProcess("matcher", {"MAILPIPE_POSTGRES__DSN": dsn, "MAILPIPE_RUNTIME__GROUP_ID": group,
                                              "MAILPIPE_RUNTIME__BATCH_MAX_RECORDS": "25",
                                              "MAILPIPE_MATCHER__INPUT_TOPIC": run.input,
                                              "MAILPIPE_MATCHER__MATCHED_TOPIC": run.matched,
                                              "MAILPIPE_MATCHER__AUTOREPLY_TOPIC": run.autoreply}, out.log, free_port())

            def decided() -> int:
                with psycopg.connect(dsn) as conn:
                    row = conn.execute("SELECT count(*) FROM matcher_decisions WHERE mailbox_id = %s",
                                       (run.box,)).fetchone()
                    return int(row[0]) if row else 0

            run.crash(proc.start, proc.kill, proc.alive, decided, lambda: run.committed_all(group), group, out)
            with psycopg.connect(dsn) as conn:
                row = conn.execute("SELECT round_robin_position FROM matcher_mailbox_state WHERE mailbox_id = %s",
                                   (run.box,)).fetchone()
                out.round_robin_advances = int(row[0]) if row else 0
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    return out


class FaustProcess:
    """The faust worker (bench/faust_support/worker.py) as a child process."""

    def __init__(self, spec: Path, log: Path) -> None:
        self.spec, self.log = spec, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start a worker; it recovers the tables from their changelogs, then consumes."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, str(WORKER), str(self.spec)], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def kill(self, sig: int) -> None:
        """Send ``sig`` and wait (SIGKILL after 60 s of a SIGTERM)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self) -> bool:
        """Whether the worker runs."""
        return self.proc is not None and self.proc.poll() is None


def run_faust(h: KafkaHarness, unique: str, guarantee: str, log_dir: Path) -> Outcome:
    """The same rules with their state in faust tables, under ``guarantee``."""
    out, run = Outcome(f"faust tables, {guarantee}"), Run(h, unique, log_dir)
    app_id = f"mailpipe-faust-{unique}"
    spec: dict[str, Any] = {
        "app_id": app_id, "bootstrap": h.settings.bootstrap_servers, "guarantee": guarantee,
        "partitions": PARTITIONS, "input": run.input, "matched": run.matched, "autoreply": run.autoreply,
        "dlq": run.dlq, "entities": [e.model_dump(mode="json") for e in run.entities],
        "mailbox": run.config.model_dump(mode="json", by_alias=True)}
    spec_path = log_dir / f"faust-{unique}.json"
    spec_path.write_text(json.dumps(spec))
    out.log = log_dir / f"faust-{unique}.log"
    worker = FaustProcess(spec_path, out.log)
    try:
        # Progress: records on the decisions table's changelog. Done: every email matched, then 15 s quiet
        # (not "every input offset committed": after a restart faust 0.15.3 may never commit again).
        run.crash(worker.start, worker.kill, worker.alive, lambda: run.end_offsets(f"{app_id}-decisions-changelog"),
                  run.settled, app_id, out)
        last: dict[str, int] = {}
        for r in h.read_all(f"{app_id}-round_robin-changelog", **COMMITTED):
            if r.value is not None:
                last[json.loads(r.key or b"null")] = int(json.loads(r.value))
        out.round_robin_advances = last.get(run.box, 0)
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    return out
