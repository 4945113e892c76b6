"""A second Dovecot instance (same users and mail) behind a link with 20 ms of round-trip delay: a
network namespace joined by ``tc netem`` where the kernel has it, else by the userspace TUN link
of ``netwire.py``."""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .stack import Server, env

HERE = Path(__file__).resolve().parent
DELAY_NS = f"mpbench{os.getpid() % 100000}"  # the namespace of the delayed server (unique per run)
NEAR_IP, FAR_IP = "10.231.7.1", "10.231.7.2"  # this side / the delayed server's side of the link
ONE_WAY_DELAY_MS = 10
WIRE_MTU = 9000  # the userspace link's MTU: jumbo frames keep its per-packet CPU small (see netwire.py)

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
    wire = subprocess.Popen([sys.executable, str(HERE / "netwire.py"), DELAY_NS, NEAR_IP, FAR_IP,
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
