"""A userspace ``netem delay``: a point-to-point IP link between the root network namespace and
a namespace of its own, made of two TUN devices, that holds every packet for a fixed delay in
each direction before passing it on.

Why: the benchmark needs a 20 ms round trip to the IMAP server, and this kernel has no
``sch_netem`` (``tc qdisc ... netem`` answers "Specified qdisc kind is unknown"). Network
namespaces and TUN devices do work, so the delay moves into this process: packets (not TCP
streams) are delayed, so TCP itself sees a real 20 ms path — slow start, ACK clocking and
window limits behave as they would across a network. The link does not drop, reorder or limit
bandwidth; it only delays.

Run as root: ``python netwire.py NETNS LOCAL_IP REMOTE_IP DELAY_MS [MTU]``. It creates the
namespace, the devices ``<ns>-a`` (here, LOCAL_IP) and ``<ns>-b`` (in NETNS, REMOTE_IP), prints
``ready`` on stdout once packets flow, and runs until SIGTERM/SIGINT, then deletes the namespace.
Single-threaded (select), so it never contends with itself for the GIL.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections import deque

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
READ_BURST = 256  # packets read from one device before looking at the other and at due packets


def open_tun(name: str) -> int:
    """A non-blocking fd for a new TUN device ``name`` (gone when the fd closes)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def setup(ns: str, local: str, remote: str, mtu: int) -> tuple[int, int]:
    """Create the namespace and both ends of the link; returns (fd here, fd in the namespace).
    The fd of a TUN device stays attached when the device moves to another namespace."""
    subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, check=False)  # left over from a crash
    ip("netns", "add", ns)
    a, b = f"{ns}-a"[:15], f"{ns}-b"[:15]
    fa, fb = open_tun(a), open_tun(b)
    ip("link", "set", b, "netns", ns)
    ip("addr", "add", local, "peer", remote, "dev", a)
    ip("link", "set", a, "mtu", str(mtu), "up")
    ip("-n", ns, "addr", "add", remote, "peer", local, "dev", b)
    ip("-n", ns, "link", "set", b, "mtu", str(mtu), "up")
    ip("-n", ns, "link", "set", "lo", "up")
    return fa, fb


def run(fa: int, fb: int, delay: float, mtu: int, stopping: list[bool]) -> None:
    """Move packets a→b and b→a, each ``delay`` seconds after it was read."""
    queues = {fa: deque(), fb: deque()}  # packets read from the key fd: (due time, bytes)
    other = {fa: fb, fb: fa}
    bufsize = mtu + 64
    while not stopping[0]:
        now = time.monotonic()
        due = [q[0][0] for q in queues.values() if q]
        timeout = max(0.0, min(due) - now) if due else 0.5
        try:
            readable, _, _ = select.select([fa, fb], [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in readable:
            q = queues[fd]
            for _ in range(READ_BURST):
                try:
                    q.append((now + delay, os.read(fd, bufsize)))
                except BlockingIOError:
                    break
        now = time.monotonic()
        for fd, q in queues.items():
            out = other[fd]
            while q and q[0][0] <= now:
                try:
                    os.write(out, q.popleft()[1])
                except OSError:
                    pass  # the receiving stack refused it (queue full): a loss, TCP resends


def main() -> int:
    ns, local, remote, delay_ms = sys.argv[1:5]
    mtu = int(sys.argv[5]) if len(sys.argv) > 5 else 1500
    stopping = [False]

    def stop(*_: object) -> None:
        stopping[0] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        fa, fb = setup(ns, local, remote, mtu)
        print("ready", flush=True)
        run(fa, fb, float(delay_ms) / 1000, mtu, stopping)
    finally:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
