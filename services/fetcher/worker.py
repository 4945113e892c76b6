"""A fetcher replica: claims due mailboxes, runs each in a worker thread, keeps leases alive.

The main thread claims (as many mailboxes as free slots), heartbeats every held lease and keeps
the gauges current; worker threads each run one mailbox with a PostgreSQL connection of their own.
A mailbox failure backs that mailbox off and the others continue; a dependency failure (Kafka or
S3 not acknowledging) stops the replica with exit code 1 — its leases expire and other replicas
take the mailboxes over, reading again from the last cursor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..common import metrics
from ..common.health import Health
from . import checkpoint, leases, runs, sentcopies
from .accounts import store
from .accounts.model import Account
from .accounts.secrets import SecretBox
from .credentials import login_secret
from .errors import METRIC_KIND, LeaseLost, MailboxUnavailable
from .idle import idle_loop
from .leases import Lease
from .publisher import Publisher
from .settings import FetchSettings
from .sources.imap import ImapMailSource
from .sources.pop3 import Pop3MailSource
from .sync import RunContext, sync_imap, sync_imap_folder, sync_pop3

log = logging.getLogger(__name__)
GAUGE_INTERVAL_SECONDS = 15.0


class Replica:
    """Runs until ``stop`` is set; ``run`` returns the process exit code."""

    def __init__(self, settings: FetchSettings, connect: Callable[[], Any], publisher: Publisher,
                 box: SecretBox, health: Health) -> None:
        self.s, self.connect, self.publisher, self.box, self.health = settings, connect, publisher, box, health
        self.held: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self.fatal: BaseException | None = None
        self.stop = threading.Event()
        self._last_success = time.time()

    def run(self, stop: threading.Event) -> int:
        self.stop = stop
        for kind in {*METRIC_KIND.values(), "other"}:  # from 0: the auth alert's increase() sees the first one
            metrics.FETCH_ERRORS.labels(kind=kind)
        conn = self.connect()
        metrics.SECONDS_SINCE_SUCCESS.set_function(lambda: time.time() - self._last_success)
        pool = ThreadPoolExecutor(self.s.concurrency, thread_name_prefix="mailbox")
        try:
            self.health.set_ready(True)
            self._loop(conn, pool)
        except Exception as exc:  # PostgreSQL gone: stop cleanly; leases expire and are taken over
            self.fatal = exc
        finally:
            stop.set()
            pool.shutdown(wait=True)  # runs see the stop, checkpoint what is acknowledged, release
            conn.close()
        if self.fatal is not None:  # mailpipe run logs it as the one exit line, with its kind
            raise self.fatal
        log.info("stopped", extra={"stage": "fetcher"})
        return 0

    def _loop(self, conn: Any, pool: ThreadPoolExecutor) -> None:
        """Claim, heartbeat and report until stopped. Blocks; psycopg errors propagate."""
        next_beat = next_gauges = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_beat:
                self._heartbeat(conn)
                next_beat = now + self.s.lease_seconds / 3
            self._answer_handovers(conn)
            if now >= next_gauges:
                metrics.UNFETCHED.set(checkpoint.unfetched_total(conn))
                metrics.MAILBOXES_FAILING.set(checkpoint.failing_total(conn))
                metrics.PUSH_MAILBOXES.set(checkpoint.push_total(conn))
                metrics.MAILBOXES_OVERDUE.set(checkpoint.overdue_total(conn, metrics.OVERDUE_POLL_INTERVALS))
                next_gauges = now + GAUGE_INTERVAL_SECONDS
            with self._lock:
                free = self.s.concurrency - len(self.held)
            for lease in leases.claim(conn, self.s.replica_id, free, self.s.lease_seconds):
                if lease.taken_over:
                    metrics.LEASE_TAKEOVERS.inc()
                    log.info("took over an expired lease", extra={"mailbox_id": lease.mailbox_id})
                with self._lock:
                    self.held[lease.mailbox_id] = lease
                pool.submit(self._run_guarded, lease)
            metrics.LEASES_HELD.set(len(self.held))
            self.health.progress()
            self.stop.wait(self.s.claim_interval_seconds)

    def _heartbeat(self, conn: Any) -> None:
        with self._lock:
            held = list(self.held.values())
        for lease in held:
            if not leases.heartbeat(conn, lease, self.s.lease_seconds) and not lease.handover.is_set():
                metrics.LEASES_LOST.inc()
                log.warning("lease lost to another replica", extra={"mailbox_id": lease.mailbox_id})

    def _answer_handovers(self, conn: Any) -> None:
        """Tell the runs of mailboxes a tool asked for to end (an IDLE loop wakes within
        CHECK_SECONDS, a fetch after its batch); ``release`` then gives the lease to the tool."""
        with self._lock:
            held = [lease for lease in self.held.values() if not lease.handover.is_set()]
        for lease in leases.handover_requested(conn, held):
            log.info("an operator tool asked for the mailbox; ending the run to hand it over",
                     extra={"mailbox_id": lease.mailbox_id})
            lease.handover.set()

    def _run_guarded(self, lease: Lease) -> None:
        try:
            with self.connect() as conn:
                self.run_mailbox(conn, lease)
        except BaseException as exc:  # a worker thread must report, never die silently
            self.fatal = exc
            self.stop.set()
        finally:
            with self._lock:
                self.held.pop(lease.mailbox_id, None)

    def run_mailbox(self, conn: Any, lease: Lease) -> None:
        """One run: read the mailbox (then stay in IDLE for push mailboxes), release the lease."""
        stored = store.get(conn, lease.mailbox_id)
        if stored is None:
            return
        account = stored.account
        run_id = runs.start(conn, lease)
        ctx = RunContext(lease, conn, self.publisher, self.s, self.stop,
                         account.max_message_bytes or self.s.max_message_bytes,
                         deadline=time.monotonic() + self.s.run_time_box_seconds)
        outcome, failure, complete = "failed", None, False
        try:
            secret = login_secret(conn, self.box, account, stored.sealed_secrets, self.s.timeout_seconds)
            with metrics.POLL_SECONDS.labels(protocol=account.protocol).time():
                complete = self._read(account, secret, ctx)
            outcome = "handed_over" if lease.handover.is_set() else "complete" if complete else "yielded"
        except MailboxUnavailable as exc:
            failure, outcome = exc, f"error:{exc.kind}"
            metrics.FETCH_ERRORS.labels(kind=exc.metric_kind).inc()
        except LeaseLost:
            outcome = "lease_lost"
            metrics.LEASES_LOST.inc()
        except Exception:  # a dependency (Kafka, S3, PostgreSQL) failed or refused: the replica stops
            runs.finish(conn, run_id, "dependency_failed", ctx.published)
            raise
        # the run is recorded as ended before the lease is free, so runs never appear to overlap
        runs.finish(conn, run_id, outcome, ctx.published)
        if ctx.published or outcome not in ("complete", "yielded"):
            log.info("run ended", extra={"mailbox_id": lease.mailbox_id, "outcome": outcome,
                                         "messages": ctx.published})
        if failure is not None:
            delay = leases.release_failed(conn, lease, failure, self.s.backoff_base_seconds,
                                          self.s.backoff_max_seconds)
            log.warning("mailbox failed; backing off", extra={
                "mailbox_id": lease.mailbox_id, "kind": failure.kind, "field": failure.field,
                "error": failure.cause, "delay_seconds": delay})
        elif outcome != "lease_lost":
            # a push mailbox wants a replica at all times, so it is due again as soon as it is released
            due_in = account.poll_interval_seconds if complete and not account.push else 0
            if (tool := leases.release(conn, lease, due_in)) is not None:
                log.info("mailbox handed over to an operator tool", extra={"mailbox_id": lease.mailbox_id,
                                                                          "tool": tool})
            self._last_success = time.time()
            metrics.LAST_SUCCESS.set(self._last_success)

    def _read(self, account: Account, secret: str, ctx: RunContext) -> bool:
        if account.protocol == "pop3":
            with Pop3MailSource(account, secret, self.s.timeout_seconds) as pop:
                sentcopies.append_pending(ctx.conn, account, None)
                return sync_pop3(pop, ctx)
        with ImapMailSource(account, secret, self.s.timeout_seconds) as src:
            sentcopies.append_pending(ctx.conn, account, src)  # before the read, which then sees them
            complete = sync_imap(src, ctx)
            if complete and account.push and not ctx.should_yield():
                self._push(src, account, ctx)
            return complete

    def _push(self, src: ImapMailSource, account: Account, ctx: RunContext) -> None:
        # A push mailbox keeps its lease for as long as the replica runs, so its runs need no time box.
        ctx.deadline = float("inf")
        idle_loop(src, account.sync_folders[0], self.s.idle_reissue_seconds, account.poll_interval_seconds,
                  keep_going=lambda: not ctx.should_yield(),
                  sync_folder=lambda folder: sync_imap_folder(src, ctx, folder),
                  sync_all=lambda: self._sync_all(src, account, ctx), uidnext_seen=ctx.uidnext_seen.get)

    @staticmethod
    def _sync_all(src: ImapMailSource, account: Account, ctx: RunContext) -> bool:
        sentcopies.append_pending(ctx.conn, account, src)  # a push mailbox's copies go out between IDLEs
        return sync_imap(src, ctx)
