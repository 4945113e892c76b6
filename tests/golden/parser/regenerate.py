"""Rewrite the expected JSON of every golden .eml — deliberately, never from a test.

Usage: ``.venv/bin/python -m tests.golden.parser.regenerate [NAME ...]`` from the repository root,
then review ``git diff tests/golden/parser`` before committing: each changed line is a change in
what the parser emits.
"""

from __future__ import annotations

import sys

from tests.golden.parser.golden import eml_files, expected_path, golden_view, render


def main(names: list[str]) -> int:
    written = 0
    for eml in eml_files():
        if names and eml.stem not in names:
            continue
        view, _ = golden_view(eml)
        expected_path(eml).write_text(render(view), encoding="utf-8")
        written += 1
    print(f"wrote {written} expected files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
