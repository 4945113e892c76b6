"""A real, throwaway Kubernetes control plane on 127.0.0.1: etcd and kube-apiserver built by
deploy/k8s/build.sh (pinned in deploy/k8s/go.mod), for tests that need the server's own admission
(strict field decoding, CRD schemas, Pod Security) rather than a schema file's opinion of it.

No controller-manager, scheduler or kubelet runs: objects are stored and admitted, never acted on.

    with ControlPlane(workdir) as cp:          # blocks until /readyz answers (~3 s), else raises
        subprocess.run([KUBECTL, "--kubeconfig", cp.kubeconfig, "get", "ns"])

    python deploy/k8s/cluster.py DIR           # one by hand: prints KUBECONFIG=...; SIGTERM/Ctrl-C stop it
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

CACHE = Path(os.environ.get("MAILPIPE_CACHE", Path.home() / ".cache" / "mailpipe"))
BIN = CACHE / "bin"
KUBECTL = BIN / "kubectl"
BUILD = Path(__file__).resolve().parent / "build.sh"


class ControlPlaneError(RuntimeError):
    """etcd or kube-apiserver did not start or did not become ready; the message ends with its log."""


def free_port() -> int:
    """A port nobody listens on now (the kernel's choice); a race with another process is possible."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ControlPlane:
    """etcd (no fsync: the data is thrown away) and kube-apiserver on free 127.0.0.1 ports, with an
    admin token (group system:masters) and a service-account signing key generated in ``workdir``;
    ``kubeconfig`` is written there once the server is ready. ``start()`` blocks up to
    ``ready_timeout_seconds`` and raises ControlPlaneError; ``stop()`` stops the apiserver, then etcd."""

    def __init__(self, workdir: Path, ready_timeout_seconds: float = 60.0) -> None:
        self.workdir = workdir
        self.ready_timeout_seconds = ready_timeout_seconds
        self.kubeconfig = workdir / "kubeconfig"
        self.token = secrets.token_hex(16)
        self.port = 0
        self._procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        client, peer = free_port(), free_port()
        self._spawn("etcd", [
            str(BIN / "etcd"), "--name", "mp", "--data-dir", str(self.workdir / "etcd"), "--unsafe-no-fsync",
            "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"mp=http://127.0.0.1:{peer}", "--log-level", "warn"])
        self._wait(f"http://127.0.0.1:{client}/health", "etcd")
        self.port = free_port()
        key = self._service_account_key()
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self.token},admin,admin,"system:masters"\n')
        tokens.chmod(0o600)
        self._spawn("kube-apiserver", [
            str(BIN / "kube-apiserver"), "--etcd-servers", f"http://127.0.0.1:{client}",
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", str(self.port),
            "--cert-dir", str(self.workdir / "pki"),
            # the endpoint reconciler refuses 127.0.0.1 ("cannot use public IP"); nothing here needs it
            "--endpoint-reconciler-type", "none",
            "--service-cluster-ip-range", "10.96.0.0/16", "--token-auth-file", str(tokens),
            "--authorization-mode", "RBAC", "--service-account-issuer", "https://kubernetes.default.svc",
            "--service-account-key-file", str(key), "--service-account-signing-key-file", str(key),
            "--profiling=false", "--v", "0"])
        self._wait(f"https://127.0.0.1:{self.port}/readyz", "kube-apiserver")
        self._write_kubeconfig()

    def stop(self) -> None:
        """The apiserver first: stopped after etcd, it would spend its shutdown retrying etcd."""
        for proc, _ in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()

    def _spawn(self, name: str, argv: list[str]) -> None:
        if not Path(argv[0]).exists():
            raise ControlPlaneError(f"{argv[0]} missing: run {BUILD}")
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._procs.append((proc, log))

    def _wait(self, url: str, name: str) -> None:
        proc, log = self._procs[-1]
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the apiserver's self-signed serving certificate
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        deadline = time.monotonic() + self.ready_timeout_seconds
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(request, timeout=5, context=context) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening or not ready yet
            time.sleep(0.3)
        self.stop()
        raise ControlPlaneError(f"{name} not ready at {url}; its log ends:\n{log.read_text()[-3000:]}")

    def _service_account_key(self) -> Path:
        key = self.workdir / "sa.key"
        if not key.exists():
            subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
        return key

    def _write_kubeconfig(self) -> None:
        self.kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: mp
  cluster: {{server: "https://127.0.0.1:{self.port}", insecure-skip-tls-verify: true}}
users:
- name: admin
  user: {{token: "{self.token}"}}
contexts:
- name: mp
  context: {{cluster: mp, user: admin}}
current-context: mp
""")
        self.kubeconfig.chmod(0o600)


def main(argv: list[str]) -> int:
    # SIGTERM (and SIGINT, which a shell's background job ignores) leave through the with-block,
    # so etcd and the apiserver are stopped too
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: sys.exit(0))
    with ControlPlane(Path(argv[0]).resolve()) as cp:
        print(f"KUBECONFIG={cp.kubeconfig}", flush=True)
        signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
