"""No service imports another (issue 13): checked on the source, with `ast`, not by importing.

The five services (fetcher, parser, matcher, storage, sender) may import only themselves and the shared
library ``mailpipe.common``; ``common`` imports no service; and neither a service nor ``common``
imports ``mailpipe.devtools`` (demo and test helpers) or ``mailpipe.cli`` (the command-line front
end), which sit outside the services. ``devtools`` reaches a service only through the modules the
service offers it (``DEVTOOLS_API``), never into its internals (the accounts store, the secret box).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
SERVICES = {"fetcher", "parser", "matcher", "storage", "sender"}
OUTSIDE = {"devtools", "cli", "tools"}  # tools around the services: they import services, never the reverse

# Cross-service imports still in files this change does not own, each with the fix it waits for.
# Keep it shrinking: the test also fails when an entry no longer occurs.
PENDING: dict[tuple[str, str], str] = {}  # (file, package) imports known to break the rule, each with why

# The service modules devtools may import: seeding an account goes through the fetcher's public
# operation (``ops.save_sealed``) and model, so the sealing and the tables stay the fetcher's own.
DEVTOOLS_API = {"fetcher.accounts.ops", "fetcher.accounts.model"}


def _package_of(path: Path) -> str:
    """The top-level part of ``mailpipe`` a file under services/ belongs to ('' for the root)."""
    parts = path.relative_to(SERVICES_DIR).parts
    if len(parts) == 1:
        return "cli" if parts[0] == "cli.py" else ""
    return parts[0]


def _imports(relative: str, text: str) -> Iterator[tuple[int, list[str], list[str]]]:
    """(line, module path inside ``mailpipe``, names) for every import of mailpipe in a module.

    ``relative`` is the module's path under services/; imports inside functions count too. For
    ``import a.b`` the names are empty; for ``from a import x, y`` they are x and y (modules or not).
    """
    package_parts = list(Path(relative).parts[:-1])  # the package a relative import starts from
    tree = ast.parse(text, filename=relative)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in ("mailpipe", "services") and len(parts) > 1:
                    yield node.lineno, parts[1:], []
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] not in ("mailpipe", "services"):
                    continue
                target = parts[1:]
            else:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            yield node.lineno, target, [alias.name for alias in node.names]


def _imported_packages(relative: str, text: str) -> Iterator[tuple[int, str]]:
    """(line, top-level package of mailpipe) for every import in a module, relative or absolute."""
    for line, target, names in _imports(relative, text):
        if target:
            yield line, target[0]
        else:  # `from mailpipe import x` / `from .. import x`: each name is a subpackage
            for name in names:
                yield line, name


def _imported_service_modules(relative: str, text: str) -> Iterator[tuple[int, str]]:
    """(line, dotted module) for every import of a service's module. ``from a.b import c`` names
    ``a.b.c`` when services/a/b/c is a module or package on disk, else ``a.b`` (c is an attribute)."""
    for line, target, names in _imports(relative, text):
        if not target:  # `from mailpipe import fetcher`: the whole service
            yield from ((line, name) for name in names if name in SERVICES)
        elif target[0] in SERVICES:
            modules = [".".join([*target, n]) if n and _is_module([*target, n]) else ".".join(target)
                       for n in names or [""]]
            yield from ((line, m) for m in dict.fromkeys(modules))  # once per module and statement


def _is_module(parts: list[str]) -> bool:
    path = SERVICES_DIR.joinpath(*parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def devtools_reaches() -> list[tuple[str, int, str]]:
    """(file relative to services/, line, module) for every service module devtools imports
    beyond ``DEVTOOLS_API``."""
    found = []
    for path in sorted((SERVICES_DIR / "devtools").rglob("*.py")):
        relative = str(path.relative_to(SERVICES_DIR))
        for line, module in _imported_service_modules(relative, path.read_text(encoding="utf-8")):
            if module not in DEVTOOLS_API:
                found.append((relative, line, module))
    return found


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


def test_devtools_uses_only_the_api_services_offer_it() -> None:
    reaches = devtools_reaches()
    assert not reaches, "devtools imports service internals (file, line, module):\n" + "\n".join(
        f"  services/{file}:{line} imports mailpipe.{module}" for file, line, module in reaches
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


def test_the_devtools_check_resolves_modules_not_packages() -> None:
    # Old devtools/mailboxes.py imports (the store, the secret box) must count as reaches; the
    # public operation and model in any import form must not.
    text = """
from ..fetcher.accounts import store
from ..fetcher.accounts.secrets import SecretBox, SecretsSettings
import mailpipe.fetcher.leases
from .. import fetcher
from ..fetcher.accounts.model import Account, AccountSecrets
from ..fetcher.accounts.ops import save_sealed
from ..fetcher.accounts import model, ops
import mailpipe.fetcher.accounts.ops
from ..common import clients
from . import mailgen
"""
    found = [module for _, module in _imported_service_modules("devtools/module.py", text)]
    assert [m for m in found if m not in DEVTOOLS_API] == [
        "fetcher.accounts.store", "fetcher.accounts.secrets", "fetcher.leases", "fetcher"]
    assert len(found) == 9  # each module once per statement; none of common or devtools itself
