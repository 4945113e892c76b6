"""No service imports another (issue 13): checked on the source, with `ast`, not by importing.

The four services (fetcher, parser, matcher, storage) may import only themselves and the shared
library ``mailpipe.common``; ``common`` imports no service; and neither a service nor ``common``
imports ``mailpipe.devtools`` (demo and test helpers) or ``mailpipe.cli`` (the command-line front
end), which sit outside the services and may import anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
SERVICES = {"fetcher", "parser", "matcher", "storage"}
OUTSIDE = {"devtools", "cli", "tools"}  # tools around the services: they import services, never the reverse

# Cross-service imports still in files this change does not own, each with the fix it waits for.
# Keep it shrinking: the test also fails when an entry no longer occurs.
PENDING: dict[tuple[str, str], str] = {}  # (file, package) imports known to break the rule, each with why


def _package_of(path: Path) -> str:
    """The top-level part of ``mailpipe`` a file under services/ belongs to ('' for the root)."""
    parts = path.relative_to(SERVICES_DIR).parts
    if len(parts) == 1:
        return "cli" if parts[0] == "cli.py" else ""
    return parts[0]


def _imported_packages(relative: str, text: str) -> Iterator[tuple[int, str]]:
    """(line, top-level package of mailpipe) for every import in a module, relative or absolute.

    ``relative`` is the module's path under services/; imports inside functions count too.
    """
    package_parts = list(Path(relative).parts[:-1])  # the package a relative import starts from
    tree = ast.parse(text, filename=relative)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in ("mailpipe", "services") and len(parts) > 1:
                    yield node.lineno, parts[1]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] not in ("mailpipe", "services"):
                    continue
                target = parts[1:]
            else:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            if target:
                yield node.lineno, target[0]
            else:  # `from mailpipe import x` / `from .. import x`: each name is a subpackage
                for alias in node.names:
                    yield node.lineno, alias.name


def _violation(source: str, target: str) -> bool:
    """A service or common importing another service, devtools or the CLI. cli, devtools and the
    package root sit outside the services and may import anything."""
    inside = source in SERVICES or source == "common"
    return inside and target != source and (target in SERVICES or target in OUTSIDE)


def boundary_violations() -> list[tuple[str, int, str]]:
    """(file relative to services/, line, imported package) for every forbidden import."""
    found = []
    for path in sorted(SERVICES_DIR.rglob("*.py")):
        relative = str(path.relative_to(SERVICES_DIR))
        source = _package_of(path)
        for line, target in _imported_packages(relative, path.read_text(encoding="utf-8")):
            if _violation(source, target):
                found.append((relative, line, target))
    return found


def test_no_service_imports_another_or_the_tools_around_it() -> None:
    unexpected = [v for v in boundary_violations() if (v[0], v[2]) not in PENDING]
    assert not unexpected, "imports across service boundaries (file, line, package):\n" + "\n".join(
        f"  services/{file}:{line} imports mailpipe.{target}" for file, line, target in unexpected
    )


def test_pending_exceptions_still_exist() -> None:
    present = {(file, target) for file, _, target in boundary_violations()}
    stale = sorted(set(PENDING) - present)
    assert not stale, f"fixed, remove from PENDING: {stale}"


def test_the_checker_sees_every_import_form() -> None:
    # The scan must not pass by seeing nothing: each form of import is resolved to its package.
    text = """
import mailpipe.matcher.follower
from mailpipe.parser import mime
from mailpipe import storage
from ..fetcher.accounts import store
from .. import devtools
from .local import thing
def lazy():
    from ..cli import SERVICES
"""
    found = [target for _, target in _imported_packages("storage/module.py", text)]
    assert found == ["matcher", "parser", "storage", "fetcher", "devtools", "storage", "cli"]
