"""CPU seconds per process group of the local stack, read from /proc, so a benchmark run can show
where the machine's cores went (the fetcher itself, Kafka, the S3 server, Dovecot, PostgreSQL).

A group's figure is the user+system time of its live processes plus what their exited children
left in ``cutime``/``cstime`` (Dovecot's per-connection ``imap`` processes and PostgreSQL's
backends are reaped by their masters, so their time shows up there).

mailpipe's own services run as ``python -m mailpipe run <service>``: every such process has the
process name ``python3``, so they are told apart by their command line. Given the process ids a
benchmark started (``mine``), each of them, and any child of one (a profiler's target), counts as
``mailpipe <service>``; a ``mailpipe run`` process it did not start (another engineer's test, the
demo) counts as ``mailpipe, not this run``, which shows how busy the machine was besides.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
CLIENT = "bench process"  # the group of this process: the client under test and its waited-for children
# process name (/proc/PID/comm) -> the group it counts toward
GROUPS = {"java": "Kafka broker", "versitygw": "S3 (versitygw)", "dovecot": "Dovecot", "imap": "Dovecot",
          "imap-login": "Dovecot", "postgres": "PostgreSQL"}
SERVICE_COMMAND = re.compile(rb"mailpipe\0run\0([a-z]+)")  # /proc/PID/cmdline separates arguments by NUL
OTHER_SERVICES = "mailpipe, not this run"


def _read(pid: str) -> tuple[str, int, float] | None:
    """(process name, parent pid, CPU seconds of it and its reaped children)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return name, int(fields[1]), (utime + stime + cutime + cstime) / TICKS


def _service_group(pid: str, name: str, parent: int, mine: Collection[int]) -> str | None:
    """``mailpipe <service>`` for a ``mailpipe run`` process of ``mine`` (or a child of one),
    OTHER_SERVICES for anyone else's, None for any other process."""
    if not name.startswith("python") and name != "mailpipe":
        return None
    try:
        found = SERVICE_COMMAND.search(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return None
    if found is None:
        return None
    return f"mailpipe {found.group(1).decode()}" if int(pid) in mine or parent in mine else OTHER_SERVICES


def snapshot(mine: Collection[int] | None = None) -> dict[str, float]:
    """CPU seconds so far per group; this process (the fetcher in-process, its threads, and the
    children it waited for, such as mbsync) counts as 'bench process'. With ``mine`` (process ids
    the benchmark started), mailpipe service processes count as groups of their own (see above)."""
    totals: dict[str, float] = {}
    me = str(os.getpid())
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or entry.name == me:
            continue
        found = _read(entry.name)
        if not found:
            continue
        group = GROUPS.get(found[0])
        if group is None and mine is not None:
            group = _service_group(entry.name, found[0], found[1], mine)
        if group is not None:
            totals[group] = totals.get(group, 0.0) + found[2]
    t = os.times()
    totals[CLIENT] = t.user + t.system + t.children_user + t.children_system
    return totals


@contextmanager
def cpu_seconds(mine: Collection[int] | None = None) -> Iterator[dict[str, float]]:
    """Yields a dict filled on exit with the CPU seconds each group used inside the block (groups
    whose processes died inside the block may read low; the stack's servers live throughout).
    ``mine``: the mailpipe service processes the caller started, each counted by its service."""
    used: dict[str, float] = {}
    before = snapshot(mine)
    try:
        yield used
    finally:
        after = snapshot(mine)
        for group, seconds in after.items():
            used[group] = max(0.0, seconds - before.get(group, 0.0))


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has been busy since boot (/proc/stat: all but idle and
    iowait), to set a run's accounted groups against everything that ran, other people's work too."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS
