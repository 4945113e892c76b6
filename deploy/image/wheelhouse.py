"""The image's runtime requirements: the entries of ``requirements.lock`` that ``mailpipe`` needs to run.

The lock also pins the dev and faust extras (pytest, mypy, aiohttp, ...), which have no place in the
image. This walks ``mailpipe``'s installed dependency tree (no extras, markers evaluated for
CPython 3.11 on Linux, the image's interpreter) and copies each needed entry from the lock verbatim,
hashes included, so the image installs exactly the locked versions with ``--require-hashes``.

    python deploy/image/wheelhouse.py requirements.lock > runtime.txt

Needs ``mailpipe`` installed in the running interpreter (the project's venv). Exits non-zero naming
a dependency the lock does not pin. No network.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import distribution
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# The image's interpreter: Debian bookworm's or python:3.11-slim's CPython 3.11 on Linux.
IMAGE_ENV = {**default_environment(), "python_version": "3.11", "sys_platform": "linux",
             "platform_system": "Linux", "implementation_name": "cpython", "extra": ""}


def runtime_names(root: str = "mailpipe") -> set[str]:
    """Canonical names of every distribution ``root`` needs at run time, ``root`` excluded; a
    dependency's requested extras count (``psycopg[binary]`` brings ``psycopg-binary``)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        for spec in distribution(name).requires or []:
            req = Requirement(spec)
            wanted = [""] + sorted(extras)  # "" keeps unconditional and platform-only requirements
            if req.marker is not None and not any(req.marker.evaluate({**IMAGE_ENV, "extra": e}) for e in wanted):
                continue  # the project's own extras (dev, faust) and other platforms
            key = (canonicalize_name(req.name), frozenset(req.extras))
            if key not in seen:
                seen.add(key)
                todo.append(key)
    return {name for name, _ in seen}


def lock_entries(lock_text: str) -> dict[str, str]:
    """Each pinned entry of a uv/pip-compile lock (``name==version`` plus its ``--hash`` lines)."""
    entries: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", lock_text):
        match = re.match(r"([A-Za-z0-9._-]+)==\S+", block)
        if match:
            lines = [line for line in block.splitlines() if not line.lstrip().startswith("#")]
            entries[canonicalize_name(match.group(1))] = "\n".join(lines).rstrip(" \\") + "\n"
    return entries


def main(argv: list[str]) -> int:
    entries = lock_entries(Path(argv[1]).read_text())
    names = runtime_names()
    missing = sorted(names - entries.keys())
    if missing:
        print(f"wheelhouse: not pinned in {argv[1]}: {', '.join(missing)}", file=sys.stderr)
        return 1
    sys.stdout.write("".join(entries[name] for name in sorted(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
