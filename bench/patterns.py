"""bench/patterns: the engine behind every pattern a mailbox owner writes (common/patterns.py, RE2)
against what it replaced, in one run.

- file name filters (names of 200 characters, the parser's cap): RE2 against the hand-written
  Thompson NFA over ``re._parser`` that ran ``/regex/`` filters before (loaded from the commit
  that last had it, ``git show``; skipped when the history is not there), and against Python's
  ``re`` where ``re`` returns at all;
- ``matches`` conditions on a body: RE2 on a body at the parser's cap (64 KiB) against the old
  wildcard (translated to ``re``, ``fullmatch``) on short bodies, whose time grows with the cube of
  the length for three stars (the fifth power for five), and against the NFA on a ``/regex/`` over
  the capped body.

Run: ``.venv/bin/python bench/patterns.py`` (a few seconds; ``make bench`` runs it).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailpipe.common.patterns import compile_pattern
from mailpipe.parser.bodies import BODY_CAP_CHARS

ROOT = Path(__file__).resolve().parents[1]
NFA_COMMIT = "882e6609aff915b5ba0a95a5fb27231ead558a9e"  # the last commit with common/filenames.py
NAMES = ["invoice-2024-final-version-scan.pdf", "a" * 199 + "!", "Übersicht über alle Aufträge (final).xlsx",
         ("image001-" * 25)[:196] + ".png"]
FILE_REGEXES = [r"^invoice-\d+.*\.pdf$", r"\.(docx?|xlsx?)$", r"^image\d{3}\.(png|gif)$", r"(a+)+$", r"(a|aa)*b"]
CATASTROPHIC = {r"(a+)+$", r"(a|aa)*b"}  # re runs for minutes on the 200-character name of a's


def per_call(fn: Callable[[], object], budget_seconds: float = 0.3) -> float:
    """Seconds per call of ``fn``, repeated for about ``budget_seconds``."""
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < budget_seconds or calls == 0:
        fn()
        calls += 1
    return elapsed / calls


def old_nfa() -> Any:
    """The replaced NFA module, or None when git or the commit is not at hand."""
    try:
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{NFA_COMMIT}:services/common/filenames.py"],
                                capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    module = types.ModuleType("old_filenames")
    sys.modules[module.__name__] = module  # its dataclasses look their module up
    exec(compile(source, "old_filenames.py", "exec"), module.__dict__)  # our own history, pinned by commit
    return module


def file_name_filters(nfa: Any) -> None:
    print("file name filters, /regex/ on names of up to 200 characters (per call; ratio = other / RE2)")
    for body in FILE_REGEXES:
        ours = compile_pattern(f"/{body}/", "filename")
        old = nfa.LinearRegex.compile(body) if nfa else None
        py = re.compile(body, re.IGNORECASE)
        for name in NAMES:
            t_re2 = per_call(lambda: ours.matches(name), 0.05)  # noqa: B023 -- called before the loop moves on
            cells = [f"RE2 {t_re2 * 1e6:7.1f} us"]
            if old is not None:
                t_nfa = per_call(lambda: old.search(name), 0.05)  # noqa: B023
                cells.append(f"NFA {t_nfa / t_re2:6.0f}x")
            if not (body in CATASTROPHIC and name.startswith("aaa")):
                t_py = per_call(lambda: py.search(name), 0.05)  # noqa: B023
                cells.append(f"re {t_py / t_re2:5.2f}x")
            print(f"  {body:26} {len(name):3} chars  " + "  ".join(cells))


def bodies(nfa: Any) -> None:
    print(f"matches conditions on bodies (RE2 at the {BODY_CAP_CHARS // 1024} KiB cap)")
    for pattern, unit in [("*http*unsubscribe*list*", "http unsubscribe "), ("*a*a*a*a*a*b", "a")]:
        ours = compile_pattern(pattern, "condition")
        cap = (unit * BODY_CAP_CHARS)[:BODY_CAP_CHARS]
        t_re2 = per_call(lambda: ours.matches(cap))  # noqa: B023
        old = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern),
                         re.IGNORECASE | re.DOTALL)
        growth = []
        # five stars over a's grow with the fifth power: 96 characters take 9 s, 1 KiB hours
        for chars in (2048, 4096, 8192) if unit != "a" else (32, 48, 64):
            started = time.perf_counter()
            old.fullmatch(cap[:chars])
            growth.append(f"{chars:,} chars {time.perf_counter() - started:5.2f} s")
        print(f"  {pattern:24} RE2 {t_re2 * 1e3:6.2f} ms at the cap; old re wildcard: " + ", ".join(growth))
    body = ("see http://x.example/unsubscribe?list=1 " * BODY_CAP_CHARS)[:BODY_CAP_CHARS]
    ours = compile_pattern("/unsubscribe.*list=2/", "condition")
    t_re2 = per_call(lambda: ours.matches(body))
    line = f"  /unsubscribe.*list=2/    RE2 {t_re2 * 1e3:6.2f} ms at the cap"
    if nfa is not None:
        t_nfa = per_call(lambda: nfa.LinearRegex.compile("unsubscribe.*list=2").search(body), 0.0)
        line += f"; NFA {t_nfa:5.2f} s ({t_nfa / t_re2:,.0f}x)"
    print(line)


def main() -> int:
    nfa = old_nfa()
    if nfa is None:
        print("bench/patterns: the NFA's commit is not in this clone; RE2 and re only")
    file_name_filters(nfa)
    bodies(nfa)
    return 0


if __name__ == "__main__":
    sys.exit(main())
