"""Running the four services as separate processes, as a deployment would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..cli import SERVICES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcess:
    """One ``mailpipe run <service>`` child with its log file and metrics port."""

    service: str
    env: dict[str, str]
    log_path: Path
    http_port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "MAILPIPE_HTTP__PORT": str(self.http_port)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "mailpipe", "run", self.service], env=env,
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metric(self, name: str) -> float:
        """Sum of every sample of ``name`` on this service's /metrics (0 when absent or down)."""
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=2).read().decode()
        except OSError:
            return 0.0
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
                   if line.startswith(name + "{") or line.startswith(name + " "))


def pipeline(env: dict[str, str], log_dir: Path, ports: dict[str, int]) -> dict[str, ServiceProcess]:
    """The services ``ports`` names (each with its metrics port), not started yet."""
    unknown = set(ports) - set(SERVICES)
    assert not unknown, f"no such service: {unknown}"
    return {s: ServiceProcess(s, env, log_dir / f"{s}.log", port) for s, port in ports.items()}


def stop_all(procs: dict[str, ServiceProcess], timeout: float = 30) -> None:
    """SIGTERM every service, then SIGKILL whatever is left after ``timeout``."""
    for p in procs.values():
        if p.alive():
            assert p.proc is not None
            p.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs.values():
        if p.proc is not None:
            try:
                p.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()


def scrape_targets_dir(state: Path) -> Path:
    """Where the local stack's Prometheus looks for file_sd target files (mailpipe_stack.prometheus)."""
    return Path(os.environ.get("MAILPIPE_STACK_PROMETHEUS_TARGETS", state / "prometheus" / "targets"))


def write_scrape_targets(targets_dir: Path, name: str, procs: dict[str, ServiceProcess]) -> Path:
    """Tell Prometheus to scrape ``procs``: a file_sd file ``<name>.json`` in ``targets_dir``, one
    target per service on 127.0.0.1 labelled ``service``. Written by rename, since Prometheus
    re-reads the folder whenever a file changes; ``name`` keeps the demo's and each test's apart."""
    targets_dir.mkdir(parents=True, exist_ok=True)
    path = targets_dir / f"{name}.json"
    doc = [{"targets": [f"127.0.0.1:{p.http_port}"], "labels": {"service": p.service}} for p in procs.values()]
    tmp = path.with_name(f".{name}.json.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)
    return path
