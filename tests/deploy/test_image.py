"""The container image, built by ``deploy/image/build.sh`` (``make image``) and run with podman the way
a platform runs it: the default entrypoint, a non-root user, the service's SIGTERM drain through tini.

The build is cached (debootstrap base, wheelhouse, layers); a cold machine needs a few minutes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pytest
from mailpipe.devtools.processes import free_port

from tests.conftest import stack_env
from tests.e2e.test_pipeline import commit_at_end

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "deploy" / "image" / "build.sh"
RUN = ROOT / "deploy" / "image" / "run.sh"

# What the test asks of the image beyond --version, run inside it by its own Python.
INSIDE = """
import json, os, shutil
from mailpipe.common.db import MIGRATIONS_DIR
from mailpipe.common.topics import load_specs
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(),
                  "compilers": [c for c in ("gcc", "cc", "c++", "clang", "make") if shutil.which(c)],
                  "pip": shutil.which("pip") or shutil.which("pip3"), "sleep": shutil.which("sleep"),
                  "topics": len(load_specs()), "migrations": len(list(MIGRATIONS_DIR.glob("*.sql")))}))
"""


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """podman with the image store build.sh uses (vfs)."""
    return subprocess.run(["podman", "--storage-driver", "vfs", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def image() -> str:
    """Builds the image (cached when nothing changed) and returns its name."""
    done = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "PY": sys.executable})
    assert done.returncode == 0, f"build.sh failed:\n{done.stderr[-4000:]}"
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.deploy
@pytest.mark.timeout(1900)
def test_version_through_the_default_entrypoint(image: str) -> None:
    done = subprocess.run([str(RUN), image, "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"mailpipe {version('mailpipe')}"


@pytest.mark.deploy
@pytest.mark.timeout(1900)
def test_image_is_non_root_without_compilers_and_carries_schemas_and_labels(image: str) -> None:
    done = subprocess.run([str(RUN), "--entrypoint", "python3", image, "-c", INSIDE],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert (facts["uid"], facts["gid"]) == (10001, 10001)
    assert facts["compilers"] == [] and facts["pip"] is None
    assert facts["sleep"], "the chart's preStop hook of the read API runs sleep"
    assert facts["topics"] > 0 and facts["migrations"] > 0  # topics create / db migrate work from the image
    labels = json.loads(podman("image", "inspect", "--format", "{{json .Labels}}", image).stdout)
    assert labels["org.opencontainers.image.version"] == version("mailpipe")
    # a commit of this repository (HEAD may have moved since the build: others commit meanwhile)
    revision = labels["org.opencontainers.image.revision"].removesuffix("-dirty")
    assert re.fullmatch(r"[0-9a-f]{40}", revision), revision
    assert subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{revision}^{{commit}}"]).returncode == 0
    assert "org.opencontainers.image.source" in labels


@pytest.mark.deploy
@pytest.mark.kafka
@pytest.mark.s3
@pytest.mark.timeout(1900)
def test_parser_container_gets_ready_on_the_stack_and_drains_on_sigterm(image: str, unique: str) -> None:
    port, group, name = free_port(), f"image-{unique}-parser", f"mailpipe-test-{unique}"
    # mail.raw holds every earlier run's records: start this group at the end, so the container
    # parses nothing of other tests'.
    commit_at_end(group, "mail.raw")
    env = {k: v for k, v in os.environ.items() if k.startswith("MAILPIPE_") and not k.startswith("MAILPIPE_STACK_")}
    env |= {"MAILPIPE_KAFKA__BOOTSTRAP_SERVERS": stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"),
            "MAILPIPE_S3__ENDPOINT_URL": stack_env("MAILPIPE_S3__ENDPOINT_URL"),
            "MAILPIPE_HTTP__HOST": "127.0.0.1", "MAILPIPE_HTTP__PORT": str(port),
            "MAILPIPE_RUNTIME__GROUP_ID": group}
    # `-e NAME` without a value: podman copies it from its own environment, so no secret is on a command line.
    forwarded = [arg for k in sorted(env) for arg in ("-e", k)]
    proc = subprocess.Popen([str(RUN), "--name", name, *forwarded, image, "run", "parser"],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_ready(port, proc)
        pid1 = podman("exec", name, "cat", "/proc/1/cmdline").stdout.split("\0")
        assert pid1[0] == "/usr/bin/tini", pid1
        stopped = podman("stop", "--time", "60", name, timeout=90)
        assert stopped.returncode == 0, stopped.stderr
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            podman("rm", "--force", "--time", "0", name)
            proc.kill()
    assert proc.returncode == 0, output[-4000:]  # SIGTERM reached the service through tini: a clean stop
    assert '"stopped"' in output, output[-4000:]


def wait_ready(port: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until /readyz answers 200; fails with the container's output if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"the container exited with {proc.returncode}:\n{output[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"/readyz did not answer 200 within {timeout} s")


@pytest.mark.deploy
def test_revision_label_says_dirty_unless_the_tree_is_heads(tmp_path: Path) -> None:
    """The revision build.sh puts in the OCI label (``build.sh --revision``, no build) is HEAD only for
    a clean tree: a changed tracked file or an untracked, unignored one (the wheel would take it)
    gives ``<sha>-dirty``; an ignored file does not."""
    (tmp_path / "deploy" / "image").mkdir(parents=True)
    (tmp_path / "deploy" / "image" / "build.sh").write_text(BUILD.read_text())
    (tmp_path / ".gitignore").write_text(".venv/\n")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com",
                               *args], capture_output=True, text=True, check=True).stdout.strip()

    def label() -> str:
        done = subprocess.run(["bash", str(tmp_path / "deploy" / "image" / "build.sh"), "--revision"],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "x")
    head = git("rev-parse", "HEAD")
    assert label() == head
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "junk").write_text("ignored")
    assert label() == head
    (tmp_path / "new_module.py").write_text("untracked")
    assert label() == f"{head}-dirty"
    (tmp_path / "new_module.py").unlink()
    (tmp_path / ".gitignore").write_text(".venv/\n*.tmp\n")
    assert label() == f"{head}-dirty"
