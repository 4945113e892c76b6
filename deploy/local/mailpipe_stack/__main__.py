"""``python -m mailpipe_stack up|down|status|logs|clean``: manage the local stack."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

from .base import Layout, Ports, layout, log, stop_pid
from .dovecot import Dovecot
from .kafka import Kafka
from .postfix import Postfix
from .postgres import Postgres
from .prometheus import Prometheus
from .s3 import S3

Component = Postgres | S3 | Dovecot | Postfix | Kafka | Prometheus


def components(lay: Layout) -> list[Component]:
    ports = Ports(lay)
    dovecot = Dovecot(lay, ports)
    # Postfix after Dovecot: it delivers over Dovecot's LMTP and authenticates against Dovecot.
    return [Postgres(lay, ports), S3(lay, ports), dovecot, Postfix(lay, ports, dovecot), Kafka(lay, ports),
            Prometheus(lay, ports)]


def up(lay: Layout) -> None:
    started = time.monotonic()
    parts = components(lay)
    lay.logs.mkdir(parents=True, exist_ok=True)
    for c in parts:
        if not c.running():
            c.install()
    fresh = [c for c in parts if not c.running()]
    # A component running with an older generated configuration takes the current one in place
    # (Dovecot reloads on SIGHUP, keeping its pid and ports).
    reloaded = [c for c in parts if c not in fresh and isinstance(c, Dovecot) and c.refresh()]
    for c in fresh:
        log(f"starting {c.name}")
        c.start()
    for c in parts:
        c.wait_ready()  # also proves an already-running component still answers
    env = "".join(f"{k}={v}\n" for c in parts for k, v in c.env().items())
    env += f"MAILPIPE_STACK_STATE_DIR={lay.state}\n"
    env += f"MAILPIPE_SECRETS__KEYS={_local_secrets_key(lay)}\n"
    if not lay.env_file.exists() or lay.env_file.read_text() != env:
        lay.env_file.write_text(env)
    changes = (("started", fresh), ("reloaded", reloaded))
    done = [f"{what} " + ", ".join(c.name for c in cs) for what, cs in changes if cs]
    verb = "; ".join(done) or "already running, nothing changed"
    log(f"stack {verb} ({time.monotonic() - started:.1f}s); settings in {lay.env_file}")


def restart(lay: Layout, name: str) -> None:
    """Stop and start one component on its same port (tests use it to cut a dependency away)."""
    found = [c for c in components(lay) if c.name == name]
    if not found:
        raise RuntimeError(f"no component {name!r}")
    c = found[0]
    log(f"restarting {name}")
    c.stop()
    c.start()
    c.wait_ready()


def stop_services(lay: Layout) -> None:
    """Stop mailpipe services the demo left running (their pids are in state/services)."""
    for pid_file in sorted((lay.state / "services").glob("*.pid")):
        stop_pid(pid_file, pid_file.stem)


def down(lay: Layout) -> None:
    stop_services(lay)
    for c in reversed(components(lay)):
        if c.running():
            log(f"stopping {c.name}")
            c.stop()
    log("stack stopped")


def status(lay: Layout) -> int:
    parts = components(lay)
    for c in parts:
        print(f"{c.name:<9} {'running' if c.running() else 'stopped'}")
        if c.running():
            for k, v in c.env().items():
                if "PASSWORD" not in k and "SECRET" not in k:
                    print(f"          {k}={v}")
    return 0 if all(c.running() for c in parts) else 3


def logs(lay: Layout, lines: int = 60) -> None:
    """Print the tail of every log the stack writes (used by .ci/run when something fails)."""
    files = sorted(lay.logs.glob("*")) + [c.log_file for c in components(lay) if hasattr(c, "log_file")]
    for f in dict.fromkeys(files):
        if f.is_file():
            print(f"===== {f} (last {lines} lines)")
            print("\n".join(f.read_text(errors="replace").splitlines()[-lines:]))


def clean(lay: Layout) -> None:
    down(lay)
    for d in {lay.state, lay.runtime}:
        shutil.rmtree(d, ignore_errors=True)
    log(f"removed {lay.state}" + (f" and {lay.runtime}" if lay.runtime != lay.state / "runtime" else ""))


def main(argv: list[str]) -> int:
    lay = layout()
    lay.state.mkdir(parents=True, exist_ok=True)
    cmd = argv[0] if argv else "status"
    try:
        if cmd == "up":
            up(lay)
        elif cmd == "down":
            down(lay)
        elif cmd == "status":
            return status(lay)
        elif cmd == "logs":
            logs(lay)
        elif cmd == "stop-services":
            stop_services(lay)
        elif cmd == "restart" and len(argv) == 2:
            restart(lay, argv[1])
        elif cmd == "clean":
            clean(lay)
        else:
            print(f"usage: python -m mailpipe_stack up|down|status|logs|clean|stop-services|restart NAME (got {cmd!r})",
                  file=sys.stderr)
            return 2
    except subprocess.CalledProcessError as exc:
        out = (exc.stderr or b"") if isinstance(exc.stderr, bytes) else (exc.stderr or "").encode()
        print(f"[stack] command failed ({exc.returncode}): {' '.join(map(str, exc.cmd))}\n"
              f"{out.decode(errors='replace')}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"[stack] {exc}", file=sys.stderr)
        return 1
    return 0


def _local_secrets_key(lay: Layout) -> str:
    """The local stack's key for mailbox secrets at rest: made once, kept with the state (a real
    deployment takes it from its secret store)."""
    import base64
    import os

    path = lay.state / "secrets.key"
    if not path.exists():
        path.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

