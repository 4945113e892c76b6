"""bench/faust_state: the matcher's state in faust tables against PostgreSQL, under issue 5's crash test.

Issue 5 names faust-streaming's tables for the matcher's state where they pass the crash test, and
PostgreSQL written in the same step where they lose or double a decision. This runs the crash
test's workload (tests/support/matcher_crash.py: 2,000 emails over 200 threads, shuffled, into a
convert-to-case mailbox with round-robin distribution and an autoresponse rule, limit 5 per sender)
three times on the local stack, each with five SIGKILLs at random points and a restart after each:

1. the matcher service (``mailpipe run matcher``), state in PostgreSQL (services/matcher/pgstate.py);
2. a faust worker (bench/faust_support/worker.py) running the same ``Matcher`` and ``decide`` with the
   state in faust tables (tables.py; agent concurrency 1, memory store recovered from the changelog
   topics), ``processing_guarantee="at_least_once"`` (faust's default);
3. the same worker with ``processing_guarantee="exactly_once"`` (Kafka transactions).

It prints what each run wrote. Run: ``.venv/bin/python bench/faust_state.py [--only NAME]``
(``make bench`` runs it; it needs the faust extra: ``make install`` installs it). Worker logs and
specs stay in .state/bench/faust_state/.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support: the crash test's workload and tally

from faust_support.runs import Outcome, run_faust, run_postgres  # noqa: E402

from tests.support.harness import KafkaHarness  # noqa: E402
from tests.support.matcher_crash import AUTOREPLY_LIMIT, THREADS  # noqa: E402

RUNS = ("postgres", "at_least_once", "exactly_once")
ROWS: list[tuple[str, str, object]] = [
    ("emails decided (of 2000)", "decided", 2000),
    ("mail.matched records (replays included)", "matched_records", None),
    ("cases created", "cases_created", THREADS),
    ("threads whose case_created came from 2+ emails", "threads_created_twice", 0),
    ("cases announced with 2 different assignees", "cases_two_assignees", 0),
    ("emails not on their thread's case", "off_thread_case", 0),
    ("emails whose replayed decisions differ", "decisions_differing", 0),
    ("autoresponse records (replays included)", "autoreply_records", None),
    ("emails whose replayed autoresponses differ", "autoreplies_differing", 0),
    ("autoresponses not announced in mail.matched", "autoreplies_unannounced", 0),
]


def _cells(o: Outcome) -> list[str]:
    t = o.tally
    if t is None:
        return ["-"] * (len(ROWS) + 6)
    counts = sorted(t.per_sender.get(f"c{i}@customer.example", 0) for i in range(THREADS))
    return [str(getattr(t, attr)) for _, attr, _ in ROWS] + [
        str(t.senders_off_limit()), f"{counts[0]}..{counts[-1]}", str(sum(counts)),
        str(o.round_robin_advances), " ".join(f"{n}" for _, n in sorted(t.assignees.items())), str(o.dead_letters),
        str(o.committed)]


def table(outcomes: list[Outcome]) -> str:
    """The measured counts, one column per run."""
    labels = [label for label, _, _ in ROWS] + [
        f"senders not answered exactly {AUTOREPLY_LIMIT} times (of {THREADS})",
        "autoresponses per sender (min..max)", f"autoresponses sent (expected {THREADS * AUTOREPLY_LIMIT})",
        f"round-robin advances in the state (expected {THREADS})", "new cases per active user",
        "dead-lettered records", "input offsets committed at the end (of 2000)"]
    expected = [str(e) if e is not None else "" for _, _, e in ROWS]
    expected += ["0", "5..5", "1000", "200", "100 100", "0", "2000"]
    columns = [_cells(o) for o in outcomes]
    heads = ["", "expected", *(o.name for o in outcomes)]
    rows = [heads] + [[label, expected[i], *(c[i] for c in columns)] for i, label in enumerate(labels)]
    rows.append(["SIGKILLs / seconds until done", "5", *(f"{o.kills} / {o.seconds:.0f}" for o in outcomes)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(heads))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    """Run the three designs under the crash workload and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=RUNS, action="append", help="run only these (repeatable)")
    args = parser.parse_args()
    versions = {p: importlib.metadata.version(p) for p in ("faust-streaming", "aiokafka", "mode-streaming")}
    print("bench/faust_state: issue 5's crash workload, 5 SIGKILLs per run;",
          ", ".join(f"{p} {v}" for p, v in versions.items()), flush=True)
    h = KafkaHarness(os.environ["MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"])
    log_dir = ROOT / ".state" / "bench" / "faust_state"
    log_dir.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for name in args.only or RUNS:
        unique = uuid.uuid4().hex[:10]
        print(f"  running {name} ({unique}) ...", flush=True)
        if name == "postgres":
            o = run_postgres(h, unique, os.environ["MAILPIPE_POSTGRES__DSN"], log_dir)
        else:
            o = run_faust(h, unique, name, log_dir)
        print(f"  {o.name}: {o.error or 'finished'} (log {o.log})", flush=True)
        outcomes.append(o)
    h.close()
    print(table(outcomes))
    for o in outcomes:
        if o.error:
            print(f"{o.name} did not finish: {o.error}")


if __name__ == "__main__":
    main()
