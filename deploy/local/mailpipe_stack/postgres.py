"""PostgreSQL 15 from Debian's packages, one throwaway cluster run as the ``postgres`` user."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .base import Layout, Ports, apt_install, log, wait_until

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "mailpipe"
# A local test cluster bound to 127.0.0.1; production DSNs come from settings. Not a word that
# appears elsewhere in logs: log redaction masks every occurrence of a configured secret.
PASSWORD = "local-stack-pg-pw"
DATABASE = "mailpipe"


class Postgres:
    name = "postgres"

    def __init__(self, lay: Layout, ports: Ports) -> None:
        self.lay = lay
        self.dir = lay.runtime / "postgres"
        self.data = self.dir / "data"
        self.log_file = self.dir / "postgres.log"
        self.port = ports.get("postgres", self.running())

    def running(self) -> bool:
        if not (self.data / "postmaster.pid").exists() or not (BIN / "pg_ctl").exists():
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    def dsn(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def env(self) -> dict[str, str]:
        return {"MAILPIPE_POSTGRES__DSN": self.dsn()}

    def install(self) -> None:
        if not (BIN / "initdb").exists():
            apt_install("postgresql-15")

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.dir, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            log("initdb")
            pwfile = self.dir / "pw"
            pwfile.write_text(PASSWORD)
            shutil.chown(pwfile, "postgres", "postgres")
            self._as_postgres([str(BIN / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
                               "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                               "--locale=C.UTF-8"])
            pwfile.unlink()
        # Rewritten on every start so a changed port takes effect.
        (self.data / "mailpipe.conf").write_text("\n".join([
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.dir}'",
            "max_connections = 200",
            # Test cluster only: durability traded for speed. Never copy these to production.
            "fsync = off", "synchronous_commit = off", "full_page_writes = off", "",
        ]))
        conf = self.data / "postgresql.conf"
        if "include = 'mailpipe.conf'" not in conf.read_text():
            conf.write_text(conf.read_text() + "\ninclude = 'mailpipe.conf'\n")
        self._pg_ctl("start", "-w", "-l", str(self.log_file))

    def wait_ready(self) -> None:
        def check() -> None:
            import psycopg

            # Over the socket (trust auth): a cluster made when the password was another keeps up.
            with psycopg.connect(host=str(self.dir), port=self.port, user=USER, dbname="postgres",
                                 connect_timeout=3, autocommit=True) as local:
                local.execute(f"ALTER ROLE {USER} PASSWORD '{PASSWORD}'")
            with psycopg.connect(self.dsn().rsplit("/", 1)[0] + "/postgres", connect_timeout=3,
                                 autocommit=True) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')

        wait_until(check, "PostgreSQL", 60, self.log_file)

    def stop(self) -> None:
        if self.running():
            self._pg_ctl("stop", "-m", "fast", "-w")

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return self._as_postgres([str(BIN / "pg_ctl"), "-D", str(self.data), *args], check=check)

    def _as_postgres(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=check,
                              capture_output=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
