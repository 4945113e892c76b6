"""The pipeline under test: the four services as ``mailpipe run <service>`` processes (the demo's
and the end-to-end tests' ``ServiceProcess``), N replicas of each consumer service, one of them
optionally under a profiler, consumer groups of this run only, and a stop that always happens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mailpipe.devtools.processes import ServiceProcess, free_port, stop_all

# consumer service -> the topic its group reads (the fetcher has no group: leases share mailboxes)
CONSUMES = {"parser": "mail.raw", "matcher": "mail.parsed", "storage": "mail.matched"}
PYSPY_VERSION = "0.4.3"
PYSPY_HOME = Path.home() / ".cache" / "mailpipe" / "tools" / f"py-spy-{PYSPY_VERSION}"


def commit_at_end(group: str, topic: str) -> None:
    """Commit ``group``'s offsets at the current end of ``topic``: the shared topics hold every
    earlier run's records (the parser and storage read fixed topic names), and this run's groups
    must see only this run's mail."""
    from kafka.structs import OffsetAndMetadata, TopicPartition
    from mailpipe.common import clients
    from mailpipe.common.settings import KafkaSettings

    consumer = clients.make_consumer(KafkaSettings(bootstrap_servers=os.environ["MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"]),
                                     group)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in consumer.end_offsets(parts).items()})
    finally:
        consumer.close(autocommit=False)


def pyspy() -> Path | None:
    """py-spy, pip-installed once (pinned) outside the project's virtualenv; None when it cannot be."""
    binary = PYSPY_HOME / "bin" / "py-spy"
    if not binary.exists():
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(PYSPY_HOME),
                               f"py-spy=={PYSPY_VERSION}"], capture_output=True, text=True)
        if done.returncode != 0 or not binary.exists():
            print(f"  py-spy could not be installed ({done.stderr.strip()[-300:]}); using cProfile", flush=True)
            return None
    return binary


class CProfiledProcess(ServiceProcess):
    """A service under ``python -m cProfile -o FILE`` (the fallback when py-spy is missing): the
    service's main thread only, written when it exits on SIGTERM."""

    profile_path: Path = Path()

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "MAILPIPE_HTTP__PORT": str(self.http_port)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "cProfile", "-o", str(self.profile_path), "-m",
                                          "mailpipe", "run", self.service], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def _ready(p: ServiceProcess) -> bool:
    try:
        return bool(urllib.request.urlopen(f"http://127.0.0.1:{p.http_port}/readyz", timeout=2).status == 200)
    except OSError:
        return False


def wait_ready(procs: list[ServiceProcess], timeout: float = 180) -> None:
    """Until every service answers /readyz (consumers joined, followers caught up); raises
    RuntimeError when one exits or the time is up."""
    deadline = time.monotonic() + timeout
    while not all(_ready(p) for p in procs):
        dead = [p.log_path.name for p in procs if not p.alive()]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(f"services not ready ({'exited: ' + ', '.join(dead) if dead else 'timeout'}); "
                               f"logs in {procs[0].log_path.parent}")
        time.sleep(0.3)


def wait_groups_stable(groups: dict[str, int], timeout: float = 120) -> None:
    """Until each consumer group has its expected number of members and is Stable. /readyz turns
    ready once a consumer has joined, but a replica that joined first is ready while the next one's
    join rebalances the group again, and a rebalance inside the timed run would be measured too."""
    from mailpipe.common import clients
    from mailpipe.common.settings import KafkaSettings

    admin = clients.make_admin(KafkaSettings(bootstrap_servers=os.environ["MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"]))
    try:
        deadline = time.monotonic() + timeout
        while True:
            found = admin.describe_groups(list(groups))
            waiting = {g: (d["group_state"], len(d["members"])) for g, d in found.items()
                       if d["group_state"] != "Stable" or len(d["members"]) != groups[g]}
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"consumer groups not stable after {timeout:.0f} s: {waiting}")
            time.sleep(0.3)
    finally:
        admin.close()


@contextmanager
def pipeline(env: dict[str, str], run_id: str, replicas: int, log_dir: Path,
             profile: str | None = None, profile_dir: Path | None = None) -> Iterator[list[ServiceProcess]]:
    """Start one fetcher and ``replicas`` of each consumer service (groups ``bench-e2e-<run_id>-*``
    committed at the topics' ends), wait until all are ready and every group is stable with all its
    members, yield them; on exit (Ctrl-C and errors too) SIGTERM them all, SIGKILL what is left
    after 30 s, and let the profiler write its file."""
    procs: list[ServiceProcess] = []
    groups: dict[str, int] = {}
    profiler: subprocess.Popen[bytes] | None = None
    try:
        for service in ("fetcher", "parser", "matcher", "storage"):
            extra = {}
            if service in CONSUMES:
                group = f"bench-e2e-{run_id}-{service}"
                commit_at_end(group, CONSUMES[service])
                extra["MAILPIPE_RUNTIME__GROUP_ID"] = group
                groups[group] = replicas
            for i in range(1 if service == "fetcher" else replicas):
                log = log_dir / f"{service}-{i}.log"
                p = ServiceProcess(service, {**env, **extra}, log, free_port())
                if service == profile and i == 0 and profile_dir is not None and pyspy() is None:
                    p = CProfiledProcess(service, {**env, **extra}, log, free_port())
                    p.profile_path = profile_dir / f"{run_id}-{service}.cprofile"
                p.start()
                procs.append(p)
        wait_ready(procs)
        wait_groups_stable(groups)
        target = next((p for p in procs if p.service == profile), None)
        if target is not None and profile_dir is not None and not isinstance(target, CProfiledProcess):
            assert target.proc is not None
            # attached, so the service runs exactly as it would; py-spy writes when the service exits.
            # --gil: only the thread running Python is sampled, so threads blocked in a socket or
            # a selector (whatever py-spy's idle heuristic makes of them) are not counted as work;
            # C code that releases the GIL (hashing, socket I/O) is in the CPU groups, not here.
            with open(log_dir / "py-spy.log", "ab") as log:
                profiler = subprocess.Popen([str(pyspy()), "record", "--pid", str(target.proc.pid), "--threads",
                                             "--gil", "--format", "speedscope", "--rate", "50",
                                             "-o", str(profile_dir / f"{run_id}-{profile}.speedscope.json")],
                                            stdout=log, stderr=subprocess.STDOUT)
        yield procs
    finally:
        stop_all({f"{p.service}-{n}": p for n, p in enumerate(procs)})
        if profiler is not None:
            try:
                profiler.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with suppress(OSError):
                    profiler.send_signal(signal.SIGINT)
                profiler.wait(timeout=30)
