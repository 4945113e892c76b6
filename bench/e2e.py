"""Whole-pipeline benchmark (issue 13): mailpipe end to end against ``mbsync`` on the same mailbox.

Run with the stack's environment loaded (``make bench`` does this)::

    set -a; . .state/stack.env; set +a
    .venv/bin/python bench/e2e.py [--corpus mixed|small|both] [--messages N] [--replicas N] [--profile SERVICE]

What it measures, per corpus of ``bench/_common.py`` (mixed: 2,000 messages of ~230 KB, a third
with attachments; small: 10,000 of ~3 KB; ``--messages`` takes the first N of either):

- a Dovecot user holding the corpus as Maildir files (written once, reused while complete);
- ``mbsync`` pulling that mailbox into a temp Maildir, before and after the pipeline run (the
  reference is their mean; the two show how much the machine drifted during the run);
- the four services as separate ``mailpipe run <service>`` processes, as ``make demo`` starts them
  (``--replicas N``: N each of parser, matcher and storage in one consumer group; mail.raw,
  mail.parsed and mail.matched have 6 partitions, so more than 6 replicas only idle), each run on a
  fresh migrated database, a new mailbox id and consumer groups of its own, started and ready
  before the clock starts; the fetcher looks for due mailboxes every 0.2 s;
- the time from ``mailpipe accounts apply`` (plain IMAP, like mbsync; run in this process, so the
  interpreter's start-up is not counted) until ``email_sightings`` holds every message of the
  mailbox, i.e. fetched, parsed, matched and stored;
- CPU seconds per process group during that time, from /proc (bench/fetch_support/cpu.py): each
  mailpipe service of this run (all its replicas together), Kafka, PostgreSQL, the S3 server,
  Dovecot and this process (the in-process ``accounts apply`` and the polling); ``mailpipe, not
  this run`` is anyone else's ``mailpipe run`` process (left out of the stack's total); and how
  busy the whole machine was. The servers are the stack's shared ones: on a busy machine they also
  serve other people's work, so only a quiet machine gives clean figures.

How to read it: ``ratio`` is mailpipe's msg/s over mbsync's; the targets are >= 0.25x (moonshot
0.5x). ``CPU ms/msg`` is the CPU seconds of the whole stack (all groups above) per message; the targets are
<= 5 ms (mixed) and <= 1 ms (small). Every server shares the two cores, so a group's CPU seconds
show where the time went: the run cannot be faster than the sum of all groups over the cores.
Small ``--messages`` runs mostly measure fixed latencies (the apply's connection check, the
fetcher's claim interval, each consumer's poll): use them to try the script, not for figures.
``--profile SERVICE`` records that service (its first replica) with py-spy (installed into
~/.cache/mailpipe/tools; cProfile when it cannot be) into .state/bench/e2e-*/. The exit code is
non-zero only when something broke; targets are reported as PASS/MISS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from e2e_support.mailbox import CORPORA, ensure_mailbox, run_mbsync
from e2e_support.run import PipelineRun, prepare_stack, run_pipeline
from fetch_support.stack import Result, Server, env
from mailpipe.common.topics import load_specs

RATIO_TARGET, RATIO_MOONSHOT = 0.25, 0.5
CPU_MS_TARGET = {"mixed": 5.0, "small": 1.0}
SERVICES = ("fetcher", "parser", "matcher", "storage")


def measure(corpus: str, count: int, args: argparse.Namespace, server: Server, work: Path) -> dict[str, object]:
    user, size = ensure_mailbox(server, corpus, count)
    print(f"\n{corpus}: {count} messages, {size / 1e6:.0f} MB as served, {args.replicas} replica(s) "
          "per consumer service", flush=True)
    before = run_mbsync(server, user)
    print(f"  mbsync before    {before.rate:8.0f} msg/s  ({before.seconds:.2f} s)", flush=True)
    run = run_pipeline(server, user, count, args.replicas, work, args.profile)
    print(f"  mailpipe         {run.rate:8.0f} msg/s  ({run.seconds:.2f} s, of which accounts apply "
          f"{run.apply_seconds:.2f} s)", flush=True)
    after = run_mbsync(server, user)
    print(f"  mbsync after     {after.rate:8.0f} msg/s  ({after.seconds:.2f} s)", flush=True)
    return {"corpus": corpus, "count": count, "before": before, "after": after, "run": run}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_table(rows: list[dict[str, object]]) -> None:
    print(f"\n{'corpus':<7} {'msgs':>6} {'mbsync msg/s':>18} {'mailpipe msg/s':>15} {'ratio':>7}  "
          f"{'target >=0.25x (0.5x)':<22} {'CPU ms/msg':>10}  target")
    for row in rows:
        before, after, run = row["before"], row["after"], row["run"]
        assert isinstance(before, Result) and isinstance(after, Result) and isinstance(run, PipelineRun)
        reference = (before.rate + after.rate) / 2
        ratio = run.rate / reference
        ms_target = CPU_MS_TARGET[str(row["corpus"])]
        mbsync = f"{reference:.0f} ({before.rate:.0f}/{after.rate:.0f})"
        ratio_verdict = verdict(ratio >= RATIO_TARGET) + (" moonshot" if ratio >= RATIO_MOONSHOT else "")
        print(f"{row['corpus']!s:<7} {row['count']!s:>6} {mbsync:>18} {run.rate:>15.0f} {ratio:>6.2f}x  "
              f"{ratio_verdict:<22} {run.cpu_ms_per_message:>10.2f}  <= {ms_target:.0f} ms "
              f"{verdict(run.cpu_ms_per_message <= ms_target)}")
    for row in rows:
        run = row["run"]
        assert isinstance(run, PipelineRun)
        accounted = run.stack_cpu
        groups = ", ".join(f"{g} {s:.1f}" for g, s in sorted(run.cpu.items(), key=lambda kv: -kv[1]) if s >= 0.05)
        cores = os.cpu_count() or 1
        print(f"\nCPU seconds during the {row['corpus']} run ({run.seconds:.1f} s wall x {cores} cores = "
              f"{run.seconds * cores:.1f} CPU-s; the stack {accounted:.1f}, machine busy {run.machine_busy:.1f}, "
              f"of which not the stack {max(0.0, run.machine_busy - accounted):.1f}):\n  {groups}")
        foreign = {service: n - run.messages for service, n in run.consumed.items() if n > run.messages}
        if foreign:
            print("  records not of this run that its consumers took from the shared topics meanwhile: "
                  + ", ".join(f"{service} {n}" for service, n in foreign.items()))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=("mixed", "small", "both"), default="both")
    parser.add_argument("--messages", type=int, default=None,
                        help="first N messages of each corpus (default: 2000 mixed, 10000 small)")
    parser.add_argument("--replicas", type=int, default=1, help="replicas of each consumer service (default 1)")
    parser.add_argument("--profile", choices=SERVICES, default=None, help="record this service with a profiler")
    args = parser.parse_args()
    # SIGTERM (make interrupted, a CI timeout) unwinds like Ctrl-C, so every service is stopped
    signal.signal(signal.SIGTERM, _interrupt)
    begun = time.perf_counter()
    if shutil.which("mbsync") is None:
        print("installing isync (mbsync) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "isync"], check=True, capture_output=True)
    server = Server("loopback", env("MAILPIPE_STACK_IMAP_HOST"), int(env("MAILPIPE_STACK_IMAP_PORT")))
    work = Path(env("MAILPIPE_STACK_STATE_DIR")) / "bench" / f"e2e-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True, exist_ok=True)
    prepare_stack(work)
    print(f"mailpipe end-to-end benchmark: logs{' and profiles' if args.profile else ''} in {work}", flush=True)
    partitions = min(s.partitions for s in load_specs() if s.name in ("mail.raw", "mail.parsed", "mail.matched"))
    if args.replicas > partitions:
        print(f"note: {args.replicas} replicas for {partitions} partitions: {args.replicas - partitions} of each "
              "consumer service get no partition and idle", flush=True)
    rows = []
    for corpus in (("mixed", "small") if args.corpus == "both" else (args.corpus,)):
        rows.append(measure(corpus, args.messages or CORPORA[corpus][0], args, server, work))
    print_table(rows)
    if args.profile:
        print(f"\nprofile of {args.profile}: {', '.join(sorted(p.name for p in work.glob('*-' + args.profile + '.*')))}"
              " (speedscope.json: open in speedscope; .cprofile: python -m pstats)")
    print(f"\nbenchmark done in {time.perf_counter() - begun:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: the services it started are stopped, its database dropped", file=sys.stderr)
        sys.exit(130)
