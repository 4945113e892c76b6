"""versitygw, an S3-compatible gateway over a local folder, built once with ``go install``."""

from __future__ import annotations

import os
import subprocess

from .base import Layout, Ports, apt_install, log, pid_alive, spawn, stop_pid, wait_until

VERSITYGW = "github.com/versity/versitygw/cmd/versitygw@v1.7.0"
ACCESS_KEY = "mailpipe-local"
SECRET_KEY = "mailpipe-local-secret"  # a loopback test server; real credentials come from settings
BUCKET = "mailpipe"


class S3:
    name = "s3"

    def __init__(self, lay: Layout, ports: Ports) -> None:
        self.lay = lay
        self.dir = lay.state / "s3"
        self.binary = lay.cache / "bin" / "versitygw"
        self.pid_file = self.dir / "versitygw.pid"
        self.log_file = lay.logs / "s3.log"
        self.port = ports.get("s3", self.running())

    def running(self) -> bool:
        return pid_alive(self.pid_file) is not None

    def env(self) -> dict[str, str]:
        return {
            "MAILPIPE_S3__ENDPOINT_URL": f"http://127.0.0.1:{self.port}",
            "MAILPIPE_S3__ACCESS_KEY_ID": ACCESS_KEY,
            "MAILPIPE_S3__SECRET_ACCESS_KEY": SECRET_KEY,
            "MAILPIPE_S3__BUCKET": BUCKET,
        }

    def install(self) -> None:
        if self.binary.exists():
            return
        if not any(os.access(os.path.join(d, "go"), os.X_OK) for d in os.environ["PATH"].split(":")):
            apt_install("golang-go")
        log(f"building versitygw with go install (a cold build takes a few minutes) into {self.binary.parent}")
        env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOBIN": str(self.binary.parent)}
        subprocess.run(["go", "install", VERSITYGW], check=True, env=env)

    def start(self) -> None:
        data, sidecar = self.dir / "data", self.dir / "meta"
        data.mkdir(parents=True, exist_ok=True)
        sidecar.mkdir(parents=True, exist_ok=True)
        # Metadata in a sidecar folder: not every filesystem a clone lands on has user xattrs.
        spawn(
            # --keep-alive: without it versitygw closes the connection after every request, which real
            # S3 does not, and every claim-check or attachment write would pay a new TCP handshake
            [str(self.binary), "--port", f"127.0.0.1:{self.port}", "--keep-alive", "posix", "--sidecar", str(sidecar),
             str(data)],
            self.log_file, self.pid_file,
            env={"ROOT_ACCESS_KEY": ACCESS_KEY, "ROOT_SECRET_KEY": SECRET_KEY},
        )

    def wait_ready(self) -> None:
        def check() -> None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3", endpoint_url=f"http://127.0.0.1:{self.port}", aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"),
            )
            names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if BUCKET not in names:
                client.create_bucket(Bucket=BUCKET)

        wait_until(check, "S3 (versitygw)", 60, self.log_file)

    def stop(self) -> None:
        stop_pid(self.pid_file, "versitygw")
