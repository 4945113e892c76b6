"""One measured pipeline run: a fresh database and mailbox id, the services started and ready,
then the clock runs from ``mailpipe accounts apply`` until storage holds every sighting."""

from __future__ import annotations

import contextlib
import io
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from fetch_support.cpu import OTHER_SERVICES, cpu_seconds, machine_busy_seconds
from fetch_support.stack import Server, Stack, bench_stack
from mailpipe import cli
from mailpipe.common import admin
from mailpipe.common.objects import object_key
from mailpipe.devtools import mailboxes, mailgen
from mailpipe.devtools.processes import ServiceProcess

from .services import CONSUMES, pipeline

PASSWORD_VAR = "BENCH_E2E_PASSWORD"
CONSUMED = "mailpipe_runtime_records_consumed_total"


@dataclass
class PipelineRun:
    """What one run measured."""

    messages: int
    seconds: float  # accounts apply -> every sighting stored
    apply_seconds: float  # of which the apply command itself (connection check, save, publish)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group during the run
    machine_busy: float = 0.0  # CPU seconds the whole machine was busy during the run (others' work too)
    # records each consumer service took from its topic (all replicas): more than ``messages`` when
    # someone else published to the shared topics meanwhile (the parser and storage read fixed names)
    consumed: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def stack_cpu(self) -> float:
        """CPU seconds of the whole stack in this run: every group but other people's mailpipe services."""
        return sum(sec for group, sec in self.cpu.items() if group != OTHER_SERVICES)

    @property
    def cpu_ms_per_message(self) -> float:
        return 1000 * self.stack_cpu / self.messages if self.messages else 0.0


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """``values`` in os.environ for the block (the in-process CLI reads its settings from there)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _apply(spec: Path, dsn: str, *flags: str) -> None:
    """``mailpipe accounts apply -f spec`` in this process (already imported: the clock should not
    measure the interpreter's start-up, which is the CLI's own item of issue 13)."""
    out = io.StringIO()
    with _environment(MAILPIPE_POSTGRES__DSN=dsn), contextlib.redirect_stdout(out):
        code = cli.main(["accounts", "apply", "-f", str(spec), *flags])
    if code != 0:
        raise RuntimeError(f"mailpipe accounts apply exited {code}: {out.getvalue()[-500:]}")


def _write_spec(path: Path, server: Server, user: str, mailbox_id: str) -> None:
    """The account as an operator declares it: plain IMAP (like mbsync), password from the environment."""
    account = mailboxes.local_account(user, mailbox_id, server=server.host, port=server.port, security="none",
                                      ca_file=None, name="bench e2e")
    doc = {"accounts": [{**account.model_dump(mode="json", exclude_defaults=True), "password_env": PASSWORD_VAR}]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _stored(conn: Any, mailbox_id: str) -> int:
    return int(conn.execute("SELECT count(*) FROM email_sightings WHERE mailbox_id = %s", (mailbox_id,)).fetchone()[0])


def _wait_stored(conn: Any, mailbox_id: str, count: int, procs: list[ServiceProcess], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (have := _stored(conn, mailbox_id)) < count:
        dead = [p.log_path.name for p in procs if not p.alive()]
        if dead or time.monotonic() > deadline:
            why = f"exited: {', '.join(dead)}" if dead else f"not done after {timeout:.0f} s"
            raise RuntimeError(f"{have} of {count} sightings stored ({why}); logs in {procs[0].log_path.parent}")
        time.sleep(0.2)


def _delete_written_objects(stack: Stack) -> None:
    """Remove the run's claim-checks and attachments, so the next run pays its S3 PUTs again (the
    object store skips content already there). The corpus is the benchmark's own random bytes:
    nothing else references these keys."""
    with stack.connect() as conn:
        keys = [object_key("raw", r[0]) for r in conn.execute(
            "SELECT sha256 FROM fetch_ledger WHERE outcome = 'claim_checked'")]
        keys += [r[0] for r in conn.execute("SELECT DISTINCT object_key FROM email_attachments")]
    for i in range(0, len(keys), 1000):
        stack.s3.delete_objects(Bucket=stack.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                             "Quiet": True})


def prepare_stack(work: Path) -> None:
    """The shared topics and the demo CRM directory (so the matcher has companies and people to
    link to), both idempotent."""
    admin.create_topics()
    directory = work / "directory.yaml"
    directory.write_text(yaml.safe_dump(mailgen.directory(), allow_unicode=True))
    admin.load_directory(directory)


def run_pipeline(server: Server, user: str, count: int, replicas: int, work: Path,
                 profile: str | None = None) -> PipelineRun:
    """One run on a fresh migrated database with a new mailbox id; every service stopped after."""
    run_id = uuid.uuid4().hex[:8]
    mailbox_id = f"bench-e2e-{run_id}"
    spec = work / f"{run_id}-accounts.yaml"
    _write_spec(spec, server, user, mailbox_id)
    os.environ[PASSWORD_VAR] = os.environ["MAILPIPE_STACK_MAIL_PASSWORD"]
    with bench_stack() as stack:
        env = {"MAILPIPE_POSTGRES__DSN": stack.dsn,
               # a due mailbox is looked for every 0.2 s (default 1 s), as the e2e tests do
               "MAILPIPE_FETCH__CLAIM_INTERVAL_SECONDS": "0.2",
               "MAILPIPE_STORAGE__RETENTION_INTERVAL_SECONDS": "0"}
        try:
            with pipeline(env, run_id, replicas, work / f"{run_id}-logs", profile, work) as procs, \
                    stack.connect() as conn:
                mine = {p.proc.pid for p in procs if p.proc is not None}
                busy = machine_busy_seconds()
                with cpu_seconds(mine) as cpu:
                    started = time.perf_counter()
                    _apply(spec, stack.dsn)
                    applied = time.perf_counter() - started
                    _wait_stored(conn, mailbox_id, count, procs, timeout=120 + count / 5)
                    seconds = time.perf_counter() - started
                busy = machine_busy_seconds() - busy
                consumed = {service: int(sum(p.metric(CONSUMED) for p in procs if p.service == service))
                            for service in CONSUMES}
        finally:
            _delete_written_objects(stack)
            # the mailbox leaves mail.mailboxes again (a tombstone), as an operator would remove it
            spec.write_text("accounts: []\n")
            _apply(spec, stack.dsn, "--prune")
    return PipelineRun(count, seconds, applied, dict(cpu), busy, consumed)
