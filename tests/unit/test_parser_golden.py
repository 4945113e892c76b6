"""The golden corpus: every .eml under tests/golden/parser parses to its expected JSON.

A difference is a change in what the parser emits: if it is intended, rewrite the expected files
with ``.venv/bin/python -m tests.golden.parser.regenerate`` and review the diff; never here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.golden.parser.golden import eml_files, expected_path, golden_view

FILES = eml_files()


def test_the_corpus_is_complete() -> None:
    assert len(FILES) >= 60
    missing = [f.name for f in FILES if not expected_path(f).exists()]
    assert not missing, f"no expected JSON for {missing}: run tests/golden/parser/regenerate.py"
    orphans = sorted(p.name for p in Path(FILES[0].parent).glob("*.json") if not p.with_suffix(".eml").exists())
    assert not orphans


@pytest.mark.parametrize("eml", FILES, ids=lambda p: p.stem)
def test_golden_message(eml: Path) -> None:
    view, stored = golden_view(eml)
    expected = json.loads(expected_path(eml).read_text(encoding="utf-8"))
    assert view == expected
    # Every stored object sits under the hash of its bytes, and every attachment was stored.
    for key, data in stored.items():
        assert key.endswith("/" + hashlib.sha256(data).hexdigest())
    assert {a["object_key"] for a in view["attachments"]} <= set(stored)
