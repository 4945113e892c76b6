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
import imaplib
import io
import os
import pstats
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common  # bench/ is on sys.path when this file runs as a script
from fetch_support.cpu import cpu_seconds
from mailpipe.common import clients
from mailpipe.common.health import Health
from mailpipe.common.objects import object_key
from mailpipe.common.runtime.kafka_ports import KafkaProducerPort
from mailpipe.common.settings import KafkaSettings, PostgresSettings, S3Settings
from mailpipe.common.topics import RAW, load_specs
from mailpipe.devtools import mailboxes
from mailpipe.devtools.scratchdb import scratch_database
from mailpipe.fetcher import leases
from mailpipe.fetcher.accounts.secrets import SecretBox, SecretsSettings
from mailpipe.fetcher.publisher import Publisher
from mailpipe.fetcher.settings import FetchSettings
from mailpipe.fetcher.worker import Replica
from pydantic import SecretStr

HERE = Path(__file__).resolve().parent
MAIL_UID = 5000  # the stack's Dovecot static userdb owns every mailbox as this uid/gid
DELAY_NS = f"mpbench{os.getpid() % 100000}"  # the namespace of the delayed server (unique per run)
NEAR_IP, FAR_IP = "10.231.7.1", "10.231.7.2"  # this side / the delayed server's side of the link
ONE_WAY_DELAY_MS = 10
WIRE_MTU = 9000  # the userspace link's MTU: jumbo frames keep its per-packet CPU small (see netwire.py)
LOOPBACK_TARGET, DELAY_TARGET, IDLE_P99_TARGET = 1.0, 10.0, 1.0


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} is not set: start the stack (`make up`) and load .state/stack.env")
    return value


@dataclass(frozen=True)
class Server:
    """Where the contenders connect: plain IMAP at ``host:port``."""

    label: str
    host: str
    port: int


@dataclass
class Result:
    """One contender's pass over the mailbox."""

    contender: str
    seconds: float
    messages: int
    bytes: int
    note: str = ""
    phases: dict[str, float] = field(default_factory=dict)  # fetcher only: seconds per phase
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group during the run

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


@dataclass
class Stack:
    """The bench's own slice of the local stack: a migrated database (dropped at the end), Kafka
    topics created and deleted per run, the shared S3 bucket and the secrets key."""

    dsn: str
    kafka: KafkaSettings
    s3: Any
    bucket: str
    box: SecretBox
    topics: list[str] = field(default_factory=list)

    def connect(self) -> Any:
        return clients.connect_postgres(PostgresSettings(dsn=SecretStr(self.dsn)), autocommit=True)

    def create_topic(self) -> str:
        """A fresh topic shaped like ``mail.raw`` (same partitions and broker config)."""
        from kafka.admin import NewTopic

        spec = next(s for s in load_specs() if s.name == RAW)
        name = f"bench-raw-{uuid.uuid4().hex[:10]}"
        admin = clients.make_admin(self.kafka)
        try:
            admin.create_topics([NewTopic(name, spec.partitions, 1, topic_configs=spec.config)])
        finally:
            admin.close()
        self.topics.append(name)
        return name

    def delete_topic(self, name: str) -> None:
        admin = clients.make_admin(self.kafka)
        try:
            admin.delete_topics([name])
        finally:
            admin.close()
        self.topics.remove(name)


@contextmanager
def bench_stack() -> Iterator[Stack]:
    """Create the bench database (migrated) and clients; drop the database and any topic left."""
    base = env("MAILPIPE_POSTGRES__DSN")
    with scratch_database(base, "bench") as dsn:
        box = SecretBox(SecretsSettings(keys=SecretStr(env("MAILPIPE_SECRETS__KEYS"))))
        s3 = clients.make_s3(S3Settings(endpoint_url=env("MAILPIPE_S3__ENDPOINT_URL"),
                                        access_key_id=env("MAILPIPE_S3__ACCESS_KEY_ID"),
                                        secret_access_key=SecretStr(env("MAILPIPE_S3__SECRET_ACCESS_KEY")),
                                        bucket=env("MAILPIPE_S3__BUCKET")))
        kafka = KafkaSettings(bootstrap_servers=env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
        stack = Stack(dsn, kafka, s3, env("MAILPIPE_S3__BUCKET"), box)
        with stack.connect() as conn:
            box.verify(conn)
        try:
            yield stack
        finally:
            for topic in list(stack.topics):
                stack.delete_topic(topic)


# ---------------------------------------------------------------------------------------------
# The mailbox
# ---------------------------------------------------------------------------------------------

def corpus(count: int, seed: int = 11) -> Iterator[bytes]:
    """The parse benchmark's mixed corpus (one generator for both, as the issues ask)."""
    return _common.mixed_messages(count, seed)


def imap_login(server: Server, user: str, timeout: float = 120) -> imaplib.IMAP4:
    client = imaplib.IMAP4(server.host, server.port, timeout=timeout)
    client.login(user, env("MAILPIPE_STACK_MAIL_PASSWORD"))
    return client


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


# ---------------------------------------------------------------------------------------------
# The delayed server
# ---------------------------------------------------------------------------------------------

def _strip_blocks(text: str, keyword: str) -> str:
    """Remove every top-level ``<keyword> ... { ... }`` block (braces matched) from a Dovecot config."""
    out, depth, skipping = [], 0, False
    for line in text.splitlines():
        stripped = line.strip()
        if depth == 0 and stripped.startswith(keyword + " ") and stripped.endswith("{"):
            skipping = True
        if skipping:
            depth += stripped.count("{") - stripped.count("}")
            if depth == 0:
                skipping = False
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def delayed_dovecot_config(tmp: Path) -> str:
    """The stack's Dovecot config (same users, same mail) as a second instance: IMAP only, on the
    delayed address, with its own runtime folders and name."""
    text = _strip_blocks(Path(env("MAILPIPE_STACK_DOVECOT_CONF")).read_text(), "service")
    settings = {"protocols": "imap", "listen": FAR_IP, "base_dir": f"{tmp}/run", "state_dir": f"{tmp}/state",
                "instance_name": f"mailpipe-bench-{DELAY_NS}", "log_path": f"{tmp}/dovecot.log",
                "login_trusted_networks": f"{NEAR_IP}/32 127.0.0.0/8"}
    for key, value in settings.items():
        text, found = re.subn(rf"(?m)^{key}\s*=.*$", f"{key} = {value}", text)
        if not found:
            text += f"{key} = {value}\n"
    return text + "service imap-login {\n  inet_listener imap {\n    port = 143\n  }\n}\n"


def _netem_link() -> None:
    """A veth pair into the namespace with ``netem delay`` on both ends; None when this kernel has
    no netem: raises LookupError and the caller uses the userspace link."""
    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True)

    def tc(*args: str) -> None:
        subprocess.run(["tc", *args], check=True, capture_output=True, text=True)

    subprocess.run(["ip", "netns", "del", DELAY_NS], capture_output=True)
    ip("netns", "add", DELAY_NS)
    near, far = f"{DELAY_NS}a"[:15], f"{DELAY_NS}b"[:15]
    try:
        ip("link", "add", near, "type", "veth", "peer", "name", far)
        ip("link", "set", far, "netns", DELAY_NS)
        ip("addr", "add", f"{NEAR_IP}/30", "dev", near)
        ip("link", "set", near, "up")
        ip("-n", DELAY_NS, "addr", "add", f"{FAR_IP}/30", "dev", far)
        ip("-n", DELAY_NS, "link", "set", far, "up")
        ip("-n", DELAY_NS, "link", "set", "lo", "up")
        tc("qdisc", "add", "dev", near, "root", "netem", "delay", f"{ONE_WAY_DELAY_MS}ms")
        tc("-n", DELAY_NS, "qdisc", "add", "dev", far, "root", "netem", "delay", f"{ONE_WAY_DELAY_MS}ms")
    except subprocess.CalledProcessError as exc:
        subprocess.run(["ip", "link", "del", near], capture_output=True)
        subprocess.run(["ip", "netns", "del", DELAY_NS], capture_output=True)
        raise LookupError((exc.stderr or "").strip()) from exc



def _userspace_link() -> subprocess.Popen[str]:
    """bench/fetch_support/netwire.py: two TUN devices and a process delaying each packet."""
    wire = subprocess.Popen([sys.executable, str(HERE / "fetch_support" / "netwire.py"), DELAY_NS, NEAR_IP, FAR_IP,
                             str(ONE_WAY_DELAY_MS), str(WIRE_MTU)], stdout=subprocess.PIPE, text=True)
    line = wire.stdout.readline() if wire.stdout else ""
    if line.strip() != "ready":
        wire.kill()
        raise RuntimeError("the userspace delay link did not start (see its error above)")
    return wire


def measure_rtt(server: Server, samples: int = 7) -> float:
    """Median TCP connect time to the server (one SYN/SYN-ACK round trip), in seconds."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        socket.create_connection((server.host, server.port), timeout=10).close()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextmanager
def delayed_server() -> Iterator[tuple[Server, str]]:
    """A second Dovecot on the same mail, in its own network namespace, ``2 * ONE_WAY_DELAY_MS``
    away. Yields the server and a description of the delay method; tears everything down."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-delay-"))
    tmp.chmod(0o755)  # Dovecot's unprivileged login processes reach base_dir through it
    wire = None
    try:
        try:
            _netem_link()
            method = f"kernel tc netem, {ONE_WAY_DELAY_MS} ms each way on a veth pair"
        except LookupError as exc:
            wire = _userspace_link()
            method = (f"userspace TUN link (bench/fetch_support/netwire.py), {ONE_WAY_DELAY_MS} ms each way per "
                      f"packet, MTU {WIRE_MTU}; tc netem unavailable here: {exc}")
        conf = tmp / "dovecot.conf"
        conf.write_text(delayed_dovecot_config(tmp))
        subprocess.run(["ip", "netns", "exec", DELAY_NS, "dovecot", "-c", str(conf)], check=True)
        server = Server("20 ms RTT", FAR_IP, 143)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection((server.host, server.port), timeout=2) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            yield server, f"{method}; measured TCP round trip {measure_rtt(server) * 1000:.1f} ms"
        finally:
            subprocess.run(["doveadm", "-c", str(conf), "stop"], capture_output=True)
    finally:
        if wire is not None:
            wire.terminate()
            wire.wait(10)
        subprocess.run(["ip", "link", "del", f"{DELAY_NS}a"[:15]], capture_output=True)
        subprocess.run(["ip", "netns", "del", DELAY_NS], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# IDLE latency
# ---------------------------------------------------------------------------------------------

def idle_latency(stack: Stack, server: Server, deliveries: int) -> tuple[list[float], int]:
    """A push account run by a Replica in a background thread (initial sync, then IDLE), a consumer
    on its topic, and ``deliveries`` APPENDs from another connection 50-100 ms apart. Returns the
    latencies (APPEND completed -> record polled from the topic, matched by UID) and how many never
    arrived."""
    from kafka.structs import TopicPartition

    user = f"bench-idle-{uuid.uuid4().hex[:10]}@mailpipe.test"
    mailbox_id = f"bench-idle-{uuid.uuid4().hex[:10]}"
    topic = stack.create_topic()
    account = mailboxes.local_account(user, mailbox_id, server=server.host, port=server.port, security="none",
                                      ca_file=None, push=True)
    mailboxes.save_account(stack.dsn, account)
    settings = FetchSettings(replica_id=f"bench-idle-{os.getpid()}", raw_topic=topic, lease_seconds=3600)
    producer = KafkaProducerPort(clients.make_producer(stack.kafka))
    replica = Replica(settings, stack.connect, Publisher(producer, stack.s3, stack.bucket, settings.claim_check_bytes,
                                                        topic=topic), stack.box, Health())
    replica.stop = threading.Event()
    seen: dict[int, float] = {}
    consumer = clients.make_consumer(stack.kafka, None, fetch_max_wait_ms=50)
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
    done = threading.Event()
    failure: list[BaseException] = []

    def consume() -> None:
        while not done.is_set():
            polled = consumer.poll(timeout_ms=100)
            now = time.perf_counter()
            for records in polled.values():
                for record in records:
                    seen[int(dict(record.headers)["uid"])] = now

    def push() -> None:
        try:
            with stack.connect() as conn:
                lease = leases.claim_one(conn, settings.replica_id, mailbox_id, settings.lease_seconds)
                assert lease is not None
                replica.run_mailbox(conn, lease)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    threads = [threading.Thread(target=consume, daemon=True), threading.Thread(target=push, daemon=True)]
    for t in threads:
        t.start()
    rng = random.Random(3)
    sender = imap_login(server, user)
    arrived: dict[int, float] = {}
    try:
        def deliver(n: int) -> int:
            raw = _common.message(rng, 50_000 + n, body_words=rng.randrange(100, 260))  # ~3 KB, as most mail is
            typ, data = sender.append("INBOX", None, None, raw)  # type: ignore[arg-type]
            now = time.perf_counter()
            uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))  # type: ignore[union-attr,arg-type]
            arrived[uid] = now
            return uid

        def wait_for(uids: Callable[[], set[int]], timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not uids() <= seen.keys() and time.monotonic() < deadline and not failure:
                time.sleep(0.02)

        # a first message proves the replica is in IDLE and the pipeline warm; it is not counted
        first = deliver(-1)
        wait_for(lambda: {first}, 30)
        if first not in seen:
            raise RuntimeError(f"IDLE: the warm-up message never reached the topic {failure!r}")
        del arrived[first]
        for n in range(deliveries):
            deliver(n)
            time.sleep(rng.uniform(0.05, 0.1))
        wait_for(lambda: set(arrived), 15)
    finally:
        sender.logout()
        replica.stop.set()
        threads[1].join(10)
        done.set()
        threads[0].join(5)
        consumer.close()
        producer.close()
        stack.delete_topic(topic)
        shutil.rmtree(Path(env("MAILPIPE_STACK_MAIL_ROOT")) / user, ignore_errors=True)
    if failure:
        raise RuntimeError("the push replica failed") from failure[0]
    latencies = [seen[uid] - at for uid, at in arrived.items() if uid in seen]
    return latencies, len(arrived) - len(latencies)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p99 of 200 values is the 198th smallest)."""
    ranked = sorted(values)
    return ranked[max(0, min(len(ranked) - 1, -(-len(ranked) * p // 100) - 1))]  # type: ignore[call-overload]


# ---------------------------------------------------------------------------------------------
# Running and reporting
# ---------------------------------------------------------------------------------------------

def round_robin(runs: int, contenders: list[tuple[str, Callable[[], Result]]]) -> dict[str, list[Result]]:
    """``runs`` rounds over every contender, the order rotated each round so none always goes first."""
    results: dict[str, list[Result]] = {name: [] for name, _ in contenders}
    for r in range(runs):
        for name, fn in contenders[r % len(contenders):] + contenders[:r % len(contenders)]:
            result = fn()
            results[name].append(result)
            print(f"  run {r + 1}: {name:<20} {result.messages:>6} msgs in {result.seconds:7.2f} s = "
                  f"{result.rate:8.1f} msg/s {result.note}", flush=True)
    return results


def median_rate(results: list[Result]) -> float:
    return statistics.median(r.rate for r in results)


def report(title: str, results: dict[str, list[Result]]) -> dict[str, float]:
    """Print the table of one network condition; returns the median rate per contender."""
    print(f"\n{title}")
    print(f"  {'contender':<20} {'msg/s':>9} {'MB/s':>8}   runs (msg/s)")
    rates = {}
    for name, rs in results.items():
        rates[name] = median_rate(rs)
        mbps = statistics.median(r.bytes / r.seconds / 1e6 for r in rs)
        notes = "; ".join(sorted({r.note for r in rs if r.note}))
        print(f"  {name:<20} {rates[name]:9.1f} {mbps:8.1f}   {' '.join(f'{r.rate:.0f}' for r in rs)}"
              f"{'  (' + notes + ')' if notes else ''}")
    for name, rs in results.items():
        middle = sorted(rs, key=lambda r: r.rate)[len(rs) // 2]
        if middle.cpu:
            spent = ", ".join(f"{group} {sec:.1f}" for group, sec in sorted(middle.cpu.items(), key=lambda kv: -kv[1])
                              if sec >= 0.05)
            print(f"  CPU seconds in {name}'s median run ({middle.seconds:.1f} s wall, "
                  f"{sum(middle.cpu.values()):.1f} CPU-s): {spent}")
        if middle.phases:
            print(f"  busy time per phase in the fetcher's median run ({middle.seconds:.1f} s wall; phases overlap "
                  "across the read-ahead, upload and publishing threads):")
            for label, sec in sorted(middle.phases.items(), key=lambda kv: -kv[1]):
                print(f"    {label:<34} {sec:7.2f} s")
    return rates


def print_ceiling(fetcher: list[Result], mbsync: list[Result]) -> None:
    """What this machine allows at best. The servers the fetcher must go through (Kafka for every
    record, S3 for claim-checks, Dovecot, PostgreSQL) share the cores with it, so the fetcher cannot
    finish before their CPU seconds fit into the machine's cores. Prints the ratio to mbsync that a
    fetcher costing no CPU of its own would reach, and the CPU seconds the fetcher itself may spend
    for 1.0x next to what mbsync spent on its own (smaller) job."""
    run, reference = (sorted(rs, key=lambda r: r.rate)[len(rs) // 2] for rs in (fetcher, mbsync))
    servers = sum(sec for group, sec in run.cpu.items() if group != "bench process")
    cores = os.cpu_count() or 1
    if servers:
        budget = reference.seconds * cores - servers
        print(f"  {'ceiling on this machine':<38} {reference.seconds * cores / servers:7.2f}x   (the servers used "
              f"{servers:.1f} CPU-s in the fetcher's run; {cores} cores in mbsync's {reference.seconds:.1f} s give "
              f"{reference.seconds * cores:.1f}: a fetcher costing no CPU itself would reach this ratio at best)")
        print(f"  {'fetcher CPU budget for 1.0x':<38} {max(budget, 0):7.1f} s   (it used "
              f"{run.cpu.get('bench process', 0):.1f}; mbsync used {reference.cpu.get('bench process', 0):.1f} "
              "for reading the same mail into files)")


def verdict(label: str, ratio: float, target: float) -> None:
    print(f"  {label:<38} {ratio:7.2f}x   target >= {target:.1f}x   {'PASS' if ratio >= target else 'MISS'}")


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
