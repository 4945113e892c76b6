"""The package list of pyproject.toml names every package under services/: the editable install of
development finds any module, but a wheel or the container image ships only what is listed."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_shipped() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    present = {"mailpipe" + "".join(f".{part}" for part in init.parent.relative_to(ROOT / "services").parts)
               for init in (ROOT / "services").rglob("__init__.py")}
    assert present - listed == set(), "packages missing from pyproject.toml [tool.setuptools] packages"
