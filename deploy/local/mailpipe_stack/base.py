"""Paths, ports, processes and installs shared by every component of the local stack."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def log(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


@dataclass(frozen=True)
class Layout:
    """Where the stack keeps things.

    state:   per-checkout data, logs and the env file (``make clean`` removes it)
    runtime: data that server processes running as other users must reach (PostgreSQL runs as
             ``postgres``, Dovecot's mail as uid 5000); it is ``state`` itself when every parent
             folder is traversable by others, else a folder under /var/tmp tied to this state path
    cache:   per-machine downloads and builds (Kafka jars, the versitygw binary), kept across clones
    """

    state: Path
    runtime: Path
    cache: Path

    @property
    def env_file(self) -> Path:
        return self.state / "stack.env"

    @property
    def logs(self) -> Path:
        return self.state / "logs"


def layout() -> Layout:
    state = Path(os.environ.get("MAILPIPE_STATE_DIR", REPO / ".state")).resolve()
    cache = Path(os.environ.get("MAILPIPE_CACHE_DIR", Path.home() / ".cache" / "mailpipe")).resolve()
    runtime = state / "runtime"
    if not _traversable_by_others(state):
        digest = hashlib.sha1(str(state).encode()).hexdigest()[:12]
        runtime = Path("/var/tmp") / f"mailpipe-{digest}"
    return Layout(state=state, runtime=runtime, cache=cache)


def _traversable_by_others(path: Path) -> bool:
    for parent in [*reversed(path.parents)]:
        if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Ports:
    """Ports chosen once per state folder and kept, so a restart keeps its addresses."""

    def __init__(self, lay: Layout) -> None:
        self._file = lay.state / "ports.json"
        self._ports: dict[str, int] = json.loads(self._file.read_text()) if self._file.exists() else {}

    def get(self, name: str, running: bool) -> int:
        """The port for ``name``; a new free one when the saved one is taken by something not ours."""
        port = self._ports.get(name)
        if port is None or (not running and port_in_use(port)):
            # A free port is only free until someone binds it: the components' ports are all chosen
            # before any server starts, so the kernel may hand the same one out twice.
            taken = set(self._ports.values())
            port = free_port()
            while port in taken:
                port = free_port()
            self._ports[name] = port
            self._file.parent.mkdir(parents=True, exist_ok=True)
            self._file.write_text(json.dumps(self._ports, indent=2, sort_keys=True))
        return port


def pid_alive(pid_file: Path) -> int | None:
    """The pid recorded in ``pid_file`` when that process still runs (zombies count as gone)."""
    try:
        pid = int(pid_file.read_text().split()[0])
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return None if state == "Z" else pid


_SPAWNED: list[subprocess.Popen[bytes]] = []  # held: a dropped Popen of a live process warns (tests: an error)


def spawn(cmd: list[str], log_file: Path, pid_file: Path, env: dict[str, str] | None = None) -> int:
    """Start ``cmd`` detached from this process group, output to ``log_file``; record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **(env or {})},
        )
    _SPAWNED.append(proc)
    pid_file.write_text(str(proc.pid))
    return proc.pid


def stop_pid(pid_file: Path, name: str, timeout: float = 30.0) -> None:
    """SIGTERM the recorded process, wait, then SIGKILL; removes the pid file."""
    pid = pid_alive(pid_file)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid_file) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid_file):
            log(f"{name} ignored SIGTERM for {timeout:.0f}s; killing")
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def wait_until(check: Callable[[], object], what: str, timeout: float, log_file: Path | None = None) -> None:
    """Call ``check`` until it returns without raising; raise RuntimeError with the last error."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            check()
            return
        except Exception as exc:  # readiness probes raise whatever their client raises
            last = exc
            time.sleep(0.3)
    tail = ""
    if log_file and log_file.exists():
        tail = "\n--- last lines of " + str(log_file) + "\n" + "\n".join(log_file.read_text().splitlines()[-30:])
    raise RuntimeError(f"{what} not ready after {timeout:.0f}s: {last!r}{tail}")


_apt_updated = False


def apt_install(*packages: str) -> None:
    """Install Debian packages (root); ``apt-get update`` runs once per process first."""
    global _apt_updated
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        log("apt-get update")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        _apt_updated = True
    log("apt-get install " + " ".join(packages))
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], check=True, env=env,
        stdout=subprocess.DEVNULL,
    )


def need_binary(path_or_name: str, *packages: str) -> None:
    if not (Path(path_or_name).exists() or shutil.which(path_or_name)):
        apt_install(*packages)


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)  # type: ignore[call-overload]


def python() -> str:
    return sys.executable


def tls_pair(lay: Layout) -> tuple[Path, Path]:
    """The stack's self-signed certificate and key (for localhost and 127.0.0.1): Dovecot's IMAPS
    and POP3S and Kafka's SASL_SSL listener serve it; tests verify against the certificate."""
    folder = lay.runtime / "dovecot"
    return folder / "cert.pem", folder / "key.pem"


def make_tls_pair(cert: Path, key: Path) -> None:
    """Create the pair when missing (idempotent); the key is unencrypted PKCS#8, as Kafka's PEM
    keystore wants it."""
    if cert.exists() and key.exists():
        return
    cert.parent.mkdir(parents=True, exist_ok=True)
    log("making a self-signed certificate for localhost and 127.0.0.1")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)])
