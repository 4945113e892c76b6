"""Running the contenders in rounds and printing their rates, CPU, ratios and verdicts."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable

from .cpu import CLIENT
from .stack import Result


def round_robin(runs: int, contenders: list[tuple[str, Callable[[], Result]]]) -> dict[str, list[Result]]:
    """``runs`` rounds over every contender, the order rotated each round so none always goes first."""
    results: dict[str, list[Result]] = {name: [] for name, _ in contenders}
    for r in range(runs):
        for name, fn in contenders[r % len(contenders):] + contenders[:r % len(contenders)]:
            result = fn()
            results[name].append(result)
            print(f"  run {r + 1}: {name:<20} {result.messages:>6} msgs in {result.seconds:7.2f} s = "
                  f"{result.rate:8.1f} msg/s {result.note}", flush=True)
    return results


def median_rate(results: list[Result]) -> float:
    return statistics.median(r.rate for r in results)


def median_run(results: list[Result]) -> Result:
    """The run whose rate is the median (the upper middle one for an even count)."""
    return sorted(results, key=lambda r: r.rate)[len(results) // 2]


def report(title: str, results: dict[str, list[Result]]) -> dict[str, float]:
    """Print the table of one network condition; returns the median rate per contender."""
    print(f"\n{title}")
    print(f"  {'contender':<20} {'msg/s':>9} {'MB/s':>8}   runs (msg/s)")
    rates = {}
    for name, rs in results.items():
        rates[name] = median_rate(rs)
        mbps = statistics.median(r.bytes / r.seconds / 1e6 for r in rs)
        notes = "; ".join(sorted({r.note for r in rs if r.note}))
        print(f"  {name:<20} {rates[name]:9.1f} {mbps:8.1f}   {' '.join(f'{r.rate:.0f}' for r in rs)}"
              f"{'  (' + notes + ')' if notes else ''}")
    for name, rs in results.items():
        middle = median_run(rs)
        if middle.cpu:
            spent = ", ".join(f"{group} {sec:.1f}" for group, sec in sorted(middle.cpu.items(), key=lambda kv: -kv[1])
                              if sec >= 0.05)
            print(f"  CPU seconds in {name}'s median run ({middle.seconds:.1f} s wall, "
                  f"{sum(middle.cpu.values()):.1f} CPU-s): {spent}")
        if middle.phases:
            print(f"  busy time per phase in the fetcher's median run ({middle.seconds:.1f} s wall; phases overlap "
                  "across the read-ahead, upload and publishing threads):")
            for label, sec in sorted(middle.phases.items(), key=lambda kv: -kv[1]):
                print(f"    {label:<34} {sec:7.2f} s")
    return rates


def print_ceiling(fetcher: list[Result], mbsync: list[Result]) -> None:
    """What this machine allows at best. The servers the fetcher must go through (Kafka for every
    record, S3 for claim-checks, Dovecot, PostgreSQL) share the cores with it, so the fetcher cannot
    finish before their CPU seconds fit into the machine's cores. Prints the ratio to mbsync that a
    fetcher costing no CPU of its own would reach, and the CPU seconds the fetcher itself may spend
    for 1.0x next to what mbsync spent on its own (smaller) job."""
    run, reference = median_run(fetcher), median_run(mbsync)
    servers = sum(sec for group, sec in run.cpu.items() if group != CLIENT)
    cores = os.cpu_count() or 1
    if servers:
        budget = reference.seconds * cores - servers
        print(f"  {'ceiling on this machine':<38} {reference.seconds * cores / servers:7.2f}x   (the servers used "
              f"{servers:.1f} CPU-s in the fetcher's run; {cores} cores in mbsync's {reference.seconds:.1f} s give "
              f"{reference.seconds * cores:.1f}: a fetcher costing no CPU itself would reach this ratio at best)")
        print(f"  {'fetcher CPU budget for 1.0x':<38} {max(budget, 0):7.1f} s   (it used "
              f"{run.cpu.get(CLIENT, 0):.1f}; mbsync used {reference.cpu.get(CLIENT, 0):.1f} "
              "for reading the same mail into files)")


def verdict(label: str, ratio: float, target: float) -> None:
    print(f"  {label:<38} {ratio:7.2f}x   target >= {target:.1f}x   {'PASS' if ratio >= target else 'MISS'}")
