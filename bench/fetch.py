"""Fetcher benchmark (issue 3): mailpipe's fetcher against ``mbsync`` and one-by-one ``imaplib``.

Run with the stack's environment loaded (``make bench`` does this)::

    set -a; . .state/stack.env; set +a; .venv/bin/python bench/fetch.py [--messages 10000] [--runs 3]

What it measures, all in the same run, on the same mailbox, over the same transport:

- a mailbox of N messages (default 10,000; the mixed corpus of ``bench/_common.py``: ~230 KB on
  average, a third with attachments of 20 KB-1.4 MB), written once as Maildir files into a
  dedicated Dovecot user and reused while complete;
- three contenders reading the whole mailbox: (1) mailpipe's fetcher in-process
  (``Replica.run_mailbox`` on a fresh database, cursor and topic, so the time covers IMAP, S3
  claim-checks, Kafka acknowledgements and the cursor/ledger writes), (2) ``mbsync`` into a temp
  Maildir, (3) stdlib ``imaplib``: EXAMINE, then one ``UID FETCH n (BODY.PEEK[])`` per message;
- once on loopback and once with 20 ms of round-trip delay: a network namespace holding a second
  Dovecot instance (same mail) behind a link delayed 10 ms each way, by ``tc netem`` where the
  kernel has it, else by a userspace TUN link (``bench/fetch_support/netwire.py``);
- IMAP IDLE latency: arrival (APPEND completed) to the record on the topic, over 200 deliveries.

Every contender speaks plain IMAP (no TLS): the stack's certificate names only localhost and
127.0.0.1, not the delayed server's address, and mbsync checks host names. TLS costs every
contender CPU (2-4x on loopback, see STACK.md), so plain IMAP compares the clients themselves.

Targets are reported as PASS/MISS; the exit code is non-zero only when something broke.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _common  # bench/ is on sys.path when this file runs as a script
from fetch_support.cpu import cpu_seconds
from fetch_support.delay import delayed_server
from fetch_support.idle import idle_latency, percentile
from fetch_support.report import print_ceiling, report, round_robin, verdict
from fetch_support.stack import Result, Server, Stack, bench_stack, env, imap_login
from mailpipe.common import clients
from mailpipe.common.health import Health
from mailpipe.common.objects import object_key
from mailpipe.common.runtime.kafka_ports import KafkaProducerPort
from mailpipe.devtools import mailboxes
from mailpipe.fetcher import leases
from mailpipe.fetcher.publisher import Publisher
from mailpipe.fetcher.settings import FetchSettings
from mailpipe.fetcher.worker import Replica

MAIL_UID = 5000  # the stack's Dovecot static userdb owns every mailbox as this uid/gid
LOOPBACK_TARGET, DELAY_TARGET, IDLE_P99_TARGET = 1.0, 10.0, 1.0


# ---------------------------------------------------------------------------------------------
# The mailbox
# ---------------------------------------------------------------------------------------------

def corpus(count: int, seed: int = 11) -> Iterator[bytes]:
    """The parse benchmark's mixed corpus (one generator for both, as the issues ask)."""
    return _common.mixed_messages(count, seed)


def message_count(server: Server, user: str) -> int:
    client = imap_login(server, user)
    try:
        typ, data = client.status("INBOX", "(MESSAGES)")
        return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1)) if typ == "OK" else 0  # type: ignore[union-attr]
    finally:
        client.logout()


def corpus_fingerprint() -> str:
    """A short hash of the corpus generator's code (bench/_common.py)."""
    import hashlib

    return hashlib.sha256(Path(_common.__file__).read_bytes()).hexdigest()[:8]


def ensure_mailbox(server: Server, user: str, count: int) -> tuple[int, int]:
    """Make ``user``'s INBOX hold exactly the ``count``-message corpus; returns (messages, bytes as
    served). Reused when complete. Otherwise written as Maildir files straight into ``cur/``
    (minutes faster than 10k APPENDs), stored the way Dovecot's own delivery stores them: LF line
    ends, with ``S=`` (file size) and ``W=`` (size with CRLF, what IMAP serves) in the name so
    Dovecot never opens a file just to learn its size."""
    maildir = Path(env("MAILPIPE_STACK_MAIL_ROOT")) / user / "Maildir"
    if maildir.is_dir() and message_count(server, user) == count:
        sizes = [int(re.search(r",W=(\d+)", p.name).group(1)) for p in (maildir / "cur").iterdir()]  # type: ignore[union-attr]
        print(f"mailbox {user}: reusing {count} messages", flush=True)
        return count, sum(sizes)
    print(f"mailbox {user}: writing {count} messages as Maildir files ...", flush=True)
    started = time.perf_counter()
    home = maildir.parent
    shutil.rmtree(home, ignore_errors=True)
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    total = 0
    base_time = int(time.time()) - count
    for n, raw in enumerate(corpus(count)):
        lf = raw.replace(b"\r\n", b"\n")
        crlf = len(lf) + lf.count(b"\n")
        total += crlf
        # time-ordered unique names: Dovecot gives UIDs in this order
        path = maildir / "cur" / f"{base_time + n}.M{n:06d}P{os.getpid()}.mailpipe-bench,S={len(lf)},W={crlf}:2,"
        path.write_bytes(lf)
        os.utime(path, (base_time + n, base_time + n))  # INTERNALDATE
    for root, dirs, files in os.walk(home):
        for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            os.chown(name, MAIL_UID, MAIL_UID)
    indexed = message_count(server, user)  # Dovecot indexes the new files now, not in a timed run
    if indexed != count:
        raise RuntimeError(f"Dovecot sees {indexed} messages in {user}, expected {count}")
    print(f"  written and indexed in {time.perf_counter() - started:.0f} s ({total / 1e9:.2f} GB)", flush=True)
    return count, total


def warm_page_cache(user: str) -> None:
    """Read every file once so no contender pays for the first read from disk."""
    for path in (Path(env("MAILPIPE_STACK_MAIL_ROOT")) / user / "Maildir" / "cur").iterdir():
        path.read_bytes()


# ---------------------------------------------------------------------------------------------
# Contenders
# ---------------------------------------------------------------------------------------------

@contextmanager
def phase_timers() -> Iterator[dict[str, float]]:
    """Seconds the fetcher's threads spend in each phase of a run, by wrapping the functions that
    make the phases (here, in the benchmark; restored afterwards). The phases overlap (the IMAP
    read-ahead thread, the claim-check upload threads and the publishing thread work at once), so
    these are busy times per phase, not slices of the run's wall time."""
    from mailpipe.fetcher import checkpoint
    from mailpipe.fetcher.sources.imap import ImapMailSource

    totals: dict[str, float] = {}
    targets = [(ImapMailSource, "infos", "IMAP sizes/dates FETCH"), (ImapMailSource, "bodies", "IMAP body FETCH"),
               (Publisher, "_claim_check", "S3 claim-check PUTs (8 threads)"),
               (KafkaProducerPort, "send", "Kafka send (enqueue)"), (KafkaProducerPort, "flush", "Kafka flush (acks)"),
               (checkpoint, "advance_imap", "PostgreSQL cursor+ledger")]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]

    def timed(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - started
        return wrapper

    for owner, name, label in targets:
        setattr(owner, name, timed(getattr(owner, name), label))
    try:
        yield totals
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)


def run_fetcher(stack: Stack, server: Server, user: str, profile: bool = False,
                claim_check_bytes: int | None = None, label: str = "mailpipe fetcher") -> Result:
    """mailpipe's fetcher, one run of a fresh account (no cursor) into a fresh topic, exactly as a
    replica's worker thread runs it. Claim-checked objects are removed afterwards so every run pays
    its S3 PUTs (the store skips content already there)."""
    mailbox_id = f"bench-{uuid.uuid4().hex[:10]}"
    topic = stack.create_topic()
    account = mailboxes.local_account(user, mailbox_id, server=server.host, port=server.port, security="none",
                                      ca_file=None)
    mailboxes.save_account(stack.dsn, account)
    # the run covers the whole mailbox: no time box or lease expiry in the middle of a measurement
    settings = FetchSettings(replica_id=f"bench-{os.getpid()}", raw_topic=topic, lease_seconds=3600,
                             run_time_box_seconds=3600,
                             **({"claim_check_bytes": claim_check_bytes} if claim_check_bytes else {}))
    producer = KafkaProducerPort(clients.make_producer(stack.kafka))
    publisher = Publisher(producer, stack.s3, stack.bucket, settings.claim_check_bytes, topic=topic)
    replica = Replica(settings, stack.connect, publisher, stack.box, Health())
    replica.stop = threading.Event()
    profiler = cProfile.Profile() if profile else None
    try:
        with stack.connect() as conn:
            lease = leases.claim_one(conn, settings.replica_id, mailbox_id, settings.lease_seconds)
            assert lease is not None
            with phase_timers() as phases, cpu_seconds() as cpu:
                started = time.perf_counter()
                if profiler:
                    profiler.enable()
                replica.run_mailbox(conn, lease)
                if profiler:
                    profiler.disable()
                seconds = time.perf_counter() - started
            outcome, published = conn.execute("SELECT outcome, messages FROM fetch_runs WHERE mailbox_id = %s",
                                              (mailbox_id,)).fetchone()
            nbytes, claimed = conn.execute(
                "SELECT coalesce(sum(size_bytes), 0), count(*) FILTER (WHERE outcome = 'claim_checked') "
                "FROM fetch_ledger WHERE mailbox_id = %s", (mailbox_id,)).fetchone()
            shas = [r[0] for r in conn.execute("SELECT sha256 FROM fetch_ledger WHERE mailbox_id = %s AND "
                                               "outcome = 'claim_checked'", (mailbox_id,))]
    finally:
        producer.close()
        stack.delete_topic(topic)
    _delete_objects(stack, [object_key("raw", sha) for sha in shas])
    if outcome != "complete":
        raise RuntimeError(f"the fetcher's run ended {outcome!r} after {published} messages")
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(r"mailpipe|services|botocore/client|kafka/producer", 30)
        stats.sort_stats("tottime").print_stats(15)
        print(out.getvalue(), flush=True)
    return Result(label, seconds, int(published), int(nbytes), f"{claimed} claim-checked to S3",
                  dict(phases), dict(cpu))


def _delete_objects(stack: Stack, keys: list[str]) -> None:
    for i in range(0, len(keys), 1000):
        stack.s3.delete_objects(Bucket=stack.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                             "Quiet": True})


# FSync no: the fetcher's records are acknowledged by a single Kafka broker that does not fsync
# either, so neither side pays for flushing to disk (with fsync, mbsync's rate follows the disk and
# drifts 530 -> 280 msg/s across rounds here as Kafka's deleted segments are written back).
MBSYNC_CONFIG = """\
FSync no

IMAPAccount bench
Host {host}
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN
Timeout 120

IMAPStore bench-far
Account bench

MaildirStore bench-near
Path {root}/
Inbox {root}/INBOX

Channel bench
Far :bench-far:
Near :bench-near:
Patterns INBOX
Sync Pull
Create Near
SyncState *
"""


def run_mbsync(server: Server, user: str) -> Result:
    """``mbsync`` (isync, C) pulling INBOX into an empty temp Maildir (defaults, but no fsync)."""
    with tempfile.TemporaryDirectory(prefix="bench-mbsync-") as tmp:
        config = Path(tmp) / "mbsyncrc"
        config.write_text(MBSYNC_CONFIG.format(host=server.host, port=server.port, user=user,
                                               password=env("MAILPIPE_STACK_MAIL_PASSWORD"), root=f"{tmp}/mail"))
        config.chmod(0o600)
        (Path(tmp) / "mail").mkdir()  # mbsync creates the folder, not the store's root
        with cpu_seconds() as cpu:
            started = time.perf_counter()
            done = subprocess.run(["mbsync", "-q", "-c", str(config), "bench"], capture_output=True, text=True)
            seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"mbsync failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        files = [p for sub in ("cur", "new") for p in (Path(tmp) / "mail" / "INBOX" / sub).iterdir()]
        nbytes = sum(p.stat().st_size for p in files)  # as mbsync stored them (CRLF kept)
    return Result("mbsync", seconds, len(files), nbytes, cpu=dict(cpu))


def run_one_by_one(server: Server, user: str, time_box: float | None) -> Result:
    """stdlib ``imaplib``: EXAMINE, then one ``UID FETCH n (BODY.PEEK[])`` per message, each
    waiting for its answer. Stops after ``time_box`` seconds when given (the rate is then that of
    the messages read, which on a delayed link is set by the round trip, not by their size)."""
    started = time.perf_counter()
    client = imap_login(server, user)
    client.select("INBOX", readonly=True)
    typ, data = client.uid("SEARCH", None, "ALL")  # type: ignore[arg-type]
    uids = data[0].split()
    n = nbytes = 0
    for uid in uids:
        typ, data = client.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
        if typ != "OK" or not isinstance(data[0], tuple):
            raise RuntimeError(f"UID FETCH {uid!r} answered {typ} {data!r:.200}")
        n += 1
        nbytes += len(data[0][1])
        if time_box is not None and time.perf_counter() - started >= time_box:
            break
    client.logout()
    seconds = time.perf_counter() - started
    note = f"time-boxed: {n} of {len(uids)} messages" if n < len(uids) else ""
    return Result("imaplib one-by-one", seconds, n, nbytes, note)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="mailbox size (default 10000)")
    parser.add_argument("--runs", type=int, default=3, help="rounds on loopback (median reported)")
    parser.add_argument("--delay-runs", type=int, default=1, help="rounds at 20 ms RTT (median reported)")
    parser.add_argument("--one-by-one-box", type=float, default=20.0,
                        help="seconds the one-by-one fetch may take at 20 ms (it reads ~45 msg/s there)")
    parser.add_argument("--idle", type=int, default=200, help="IDLE deliveries (0 skips)")
    parser.add_argument("--skip-delay", action="store_true", help="loopback only")
    parser.add_argument("--profile", action="store_true", help="profile one extra fetcher run on loopback")
    parser.add_argument("--claim-check-bytes", type=int, default=None,
                        help="the fetcher's claim-check threshold for this run (default: the product's default, "
                             "MAILPIPE_FETCH__CLAIM_CHECK_BYTES); shows what the S3 path costs")
    args = parser.parse_args()
    begun = time.perf_counter()

    if shutil.which("mbsync") is None:
        print("installing isync (mbsync) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "isync"], check=True, capture_output=True)
    loopback = Server("loopback", env("MAILPIPE_STACK_IMAP_HOST"), int(env("MAILPIPE_STACK_IMAP_PORT")))
    # the name carries a fingerprint of the corpus generator, so a changed corpus gets a new mailbox
    user = f"bench-fetch-{args.messages}-{corpus_fingerprint()}@mailpipe.test"
    count, size = ensure_mailbox(loopback, user, args.messages)
    warm_page_cache(user)
    print(f"\nmailpipe fetcher benchmark: {count} messages, {size / 1e9:.2f} GB as served "
          f"(~1/3 with attachments), plain IMAP for every contender", flush=True)

    with bench_stack() as stack:
        print(f"\nloopback ({loopback.host}:{loopback.port}), {args.runs} rounds", flush=True)
        rounds = round_robin(args.runs, [
            ("mailpipe fetcher", lambda: run_fetcher(stack, loopback, user, claim_check_bytes=args.claim_check_bytes)),
            ("mbsync", lambda: run_mbsync(loopback, user)),
            ("imaplib one-by-one", lambda: run_one_by_one(loopback, user, None)),
        ])
        local = report("loopback, median of rounds:", rounds)
        verdict("fetcher / mbsync", local["mailpipe fetcher"] / local["mbsync"], LOOPBACK_TARGET)
        print_ceiling(rounds["mailpipe fetcher"], rounds["mbsync"])
        print(f"  {'fetcher / imaplib one-by-one':<38} {local['mailpipe fetcher'] / local['imaplib one-by-one']:7.2f}x"
              "   (information)")

        if not args.skip_delay:
            with delayed_server() as (far, method):
                print(f"\n20 ms RTT: {method}; {args.delay_runs} rounds", flush=True)
                delayed = report("20 ms RTT, median of rounds:", round_robin(args.delay_runs, [
                    ("mailpipe fetcher", lambda: run_fetcher(stack, far, user)),
                    ("mbsync", lambda: run_mbsync(far, user)),
                    ("imaplib one-by-one", lambda: run_one_by_one(far, user, args.one_by_one_box)),
                ]))
            verdict("fetcher / imaplib one-by-one", delayed["mailpipe fetcher"] / delayed["imaplib one-by-one"],
                    DELAY_TARGET)
            print(f"  {'fetcher / mbsync':<38} {delayed['mailpipe fetcher'] / delayed['mbsync']:7.2f}x"
                  "   (information)")

        if args.idle:
            print(f"\nIMAP IDLE: {args.idle} deliveries 50-100 ms apart on loopback ...", flush=True)
            latencies, lost = idle_latency(stack, loopback, args.idle)
            p50, p99 = statistics.median(latencies), percentile(latencies, 99)
            print(f"  arrival -> record on the topic: median {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
                  f"max {max(latencies) * 1000:.0f} ms, {lost} never arrived")
            ok = p99 < IDLE_P99_TARGET and not lost
            print(f"  {'IDLE p99':<38} {p99:7.3f} s   target < {IDLE_P99_TARGET:.1f} s   {'PASS' if ok else 'MISS'}")

        if args.profile:
            print("\nprofile of one fetcher run on loopback (main thread; Kafka's sender thread not shown):")
            run_fetcher(stack, loopback, user, profile=True)
    print(f"\nbenchmark done in {time.perf_counter() - begun:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
