"""CPU seconds per process group of the local stack, read from /proc, so a benchmark run can show
where the machine's cores went (the fetcher itself, Kafka, the S3 server, Dovecot, PostgreSQL).

A group's figure is the user+system time of its live processes plus what their exited children
left in ``cutime``/``cstime`` (Dovecot's per-connection ``imap`` processes and PostgreSQL's
backends are reaped by their masters, so their time shows up there).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
CLIENT = "bench process"  # the group of this process: the client under test and its waited-for children
# process name (/proc/PID/comm) -> the group it counts toward
GROUPS = {"java": "Kafka broker", "versitygw": "S3 (versitygw)", "dovecot": "Dovecot", "imap": "Dovecot",
          "imap-login": "Dovecot", "postgres": "PostgreSQL"}


def _read(pid: str) -> tuple[str, float] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return name, (utime + stime + cutime + cstime) / TICKS


def snapshot() -> dict[str, float]:
    """CPU seconds so far per group; this process (the fetcher in-process, its threads, and the
    children it waited for, such as mbsync) counts as 'bench process'."""
    totals: dict[str, float] = {}
    me = str(os.getpid())
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or entry.name == me:
            continue
        found = _read(entry.name)
        if found and found[0] in GROUPS:
            group = GROUPS[found[0]]
            totals[group] = totals.get(group, 0.0) + found[1]
    t = os.times()
    totals[CLIENT] = t.user + t.system + t.children_user + t.children_system
    return totals


@contextmanager
def cpu_seconds() -> Iterator[dict[str, float]]:
    """Yields a dict filled on exit with the CPU seconds each group used inside the block (groups
    whose processes died inside the block may read low; the stack's servers live throughout)."""
    used: dict[str, float] = {}
    before = snapshot()
    try:
        yield used
    finally:
        after = snapshot()
        for group, seconds in after.items():
            used[group] = max(0.0, seconds - before.get(group, 0.0))
