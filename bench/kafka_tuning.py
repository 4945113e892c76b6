"""Kafka client tuning: producer compression, linger and batch size, consumer fetch sizes, measured
against the local broker through the project's own client factories and runtime.

Each run is one hop of the pipeline with its real rhythm: a source process (an upstream stage)
produces N records in batches of ``batch_max_records``, flushing after each; at the same time this
process runs the runtime's StageRunner with a relay stage that consumes them and produces each to a
second topic (poll a batch, send, flush, commit). Both spend a fixed CPU time per record standing in
for a stage's own work, since that decides how many records a producer's linger gathers. Shapes:
``mail.parsed`` envelopes (the parser's output for bench/_common.py's small and mixed corpora) and
``mail.raw`` records (the mixed corpus's messages the fetcher would not claim-check).

Per settings variant and shape it prints records/s, the broker's CPU above its idle rate
(bench/fetch_support/cpu.py, "Kafka broker") and the clients' CPU without the stand-in work, per
1,000 records; the relay's requests and network bytes and the bytes the broker stored per 1,000
records; and the latency of a lone record through the relay on a quiet topic (median of a few).
Ratios are against today's defaults (the settings before this benchmark) measured in the same run.
The broker is shared with whoever else uses the stack and its CPU is the whole process's: requests
and bytes are exact, CPU figures are noisy (BENCH_ROUNDS=3 repeats in rotated order and keeps each
figure's best). One round at the default sizes takes ~3 minutes on a busy 2-core machine.

    .venv/bin/python bench/kafka_tuning.py [--small 2000] [--mixed 500] [--raw 150] [--only today,lz4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from fetch_support.cpu import snapshot  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402
from kafka.metrics.measurable_stat import AbstractMeasurableStat  # noqa: E402
from mailpipe.common import clients  # noqa: E402
from mailpipe.common.messages import ParsedEnvelope, Sighting, encode, routing_headers  # noqa: E402
from mailpipe.common.runtime.kafka_ports import KafkaConsumerPort, KafkaProducerPort  # noqa: E402
from mailpipe.common.runtime.loop import Stage, StageRunner  # noqa: E402
from mailpipe.common.runtime.ports import Output, Record  # noqa: E402
from mailpipe.common.settings import KafkaSettings, RuntimeSettings  # noqa: E402
from mailpipe.parser.mime import parse_email  # noqa: E402

KiB = 1024
# The client settings before this benchmark chose new defaults (clients.py as it was): the baseline.
TODAY = dict(compression_type="none", linger_seconds=0.005, producer_batch_bytes=1024 * KiB, fetch_min_bytes=1,
             fetch_max_wait_seconds=0.5, max_partition_fetch_bytes=8 * 1024 * KiB)
# One factor at a time from today's, then the chosen combination (the settings' defaults now).
VARIANTS: dict[str, dict[str, Any]] = {
    "today": {},
    "gzip": {"compression_type": "gzip"}, "lz4": {"compression_type": "lz4"}, "zstd": {"compression_type": "zstd"},
    "linger 0": {"linger_seconds": 0.0}, "linger 20ms": {"linger_seconds": 0.02},
    "linger 100ms": {"linger_seconds": 0.1},
    "batch 16K": {"producer_batch_bytes": 16 * KiB}, "batch 64K": {"producer_batch_bytes": 64 * KiB},
    "batch 256K": {"producer_batch_bytes": 256 * KiB},
    "fetch min 64K/100ms": {"fetch_min_bytes": 64 * KiB, "fetch_max_wait_seconds": 0.1},
    "partition fetch 1M": {"max_partition_fetch_bytes": 1024 * KiB},
    "chosen": "defaults",
}
PARTITIONS = 6  # mail.parsed's
QUIET_RECORDS = 5  # lone records timed through the relay after the load
CLAIM_CHECK_BYTES = 512 * 1024  # the fetcher's default: larger raw mail goes to S3, the record is empty


def raw_records(raws: list[bytes]) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """(key, value, headers) of the fetcher's ``mail.raw`` record for each message the fetcher
    would not claim-check (the raw bytes themselves; larger ones go to S3 first)."""
    return [(f"mbx-{n % 12}:INBOX:1:{n + 1}".encode(), raw,
             [("mailbox", f"mbx-{n % 12}".encode()), ("folder", b"INBOX"), ("uidvalidity", b"1"),
              ("uid", str(n + 1).encode()), ("size", str(len(raw)).encode()), ("sha256", b"0" * 64)])
            for n, raw in enumerate(raws) if len(raw) <= CLAIM_CHECK_BYTES]


def envelopes(raws: list[bytes]) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """(key, value, headers) of the parser's ``mail.parsed`` record for each raw message, over a
    dozen mailboxes (the key)."""
    out = []
    for n, raw in enumerate(raws):
        sighting = Sighting(mailbox_id=f"mbx-{n % 12}", folder="INBOX", uidvalidity=1, uid=n + 1)
        parsed = parse_email(raw, sighting, sha256="0" * 64)
        env = ParsedEnvelope(email_id=parsed.email_id, producer="parser", payload=parsed)
        out.append((sighting.mailbox_id.encode(), encode(env), routing_headers(env)))
    return out


class _Count(AbstractMeasurableStat):  # type: ignore[misc]
    """Counts what a kafka-python sensor records (its own stats are windowed rates only)."""

    def __init__(self) -> None:
        self.count, self.total = 0, 0.0

    def record(self, config: Any, value: float, now: Any) -> None:
        self.count, self.total = self.count + 1, self.total + value

    def measure(self, config: Any, now: Any) -> float:
        return float(self.count)


def _counter(client: Any, sensor: str) -> _Count:
    # reaches into kafka-python's metrics registry (bench only): requests and bytes sent/received
    metrics, stat = client._metrics, _Count()
    metrics.get_sensor(sensor).add(metrics.metric_name(f"bench-{uuid.uuid4().hex}", "bench"), stat)
    return stat


def work(seconds: float) -> None:
    """Hold the GIL busy for ``seconds`` of this thread's CPU: a stage's own work per record, which
    decides how many records a producer's linger gathers before the batch's flush."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


class Relay(Stage):
    """Each record to ``topic`` unchanged after ``work_seconds`` of work; notes when each key was
    first seen."""

    name = "kafka_tuning"

    def __init__(self, topic: str, work_seconds: float) -> None:
        self.topic, self.work, self.handled, self.seen = topic, work_seconds, 0, {}  # type: ignore[var-annotated]

    def handle(self, record: Record) -> list[Output]:
        work(self.work)
        self.handled += 1
        self.seen.setdefault(record.key, time.monotonic())
        return [Output(self.topic, record.key, record.value, record.headers)]


def _source(settings: KafkaSettings, topic: str, records: list[Any], batch: int, work_seconds: float,
            ready: Any, go: Any, report: Any) -> None:
    """The upstream stage, in a process of its own: produce ``records`` a batch at a time, flushing
    after each as the runtime does; report its CPU seconds from ``go`` to the last flush."""
    producer = KafkaProducerPort(clients.make_producer(settings))
    ready.set()
    go.wait()
    start = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(0, len(records), batch):
        sent = []
        for k, v, h in records[i:i + batch]:
            work(work_seconds)
            sent.append(producer.send(Output(topic, k, v, h)))
        producer.flush(60)
        if any(s.error() is not None for s in sent):
            raise SystemExit("a send failed")
    end = resource.getrusage(resource.RUSAGE_SELF)
    report.send(end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime)
    producer.close()


def disk_bytes(topic: str) -> int:
    """Bytes of ``topic``'s log segments in the local broker's data directory (0 if not there)."""
    data = Path(os.environ.get("MAILPIPE_STACK_STATE_DIR", ".state")) / "kafka" / "data"
    return sum(f.stat().st_size for d in data.glob(f"{topic}-*") for f in d.glob("*.log"))


def run(settings: KafkaSettings, records: list[Any], batch: int, work_seconds: float,
        broker_idle: float) -> dict[str, float]:
    """One hop with ``settings``: figures per 1,000 records (see the module's docstring); the
    clients' CPU without the stand-in work, the broker's above its idle rate ``broker_idle``."""
    tag = uuid.uuid4().hex[:10]
    src, dst = f"bench.tuning.{tag}.in", f"bench.tuning.{tag}.out"
    admin = clients.make_admin(settings)
    admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in (src, dst)])
    admin.close()
    ctx = mp.get_context("fork")  # before this process has client threads of this run
    ready, go, (report_in, report_out) = ctx.Event(), ctx.Event(), ctx.Pipe(False)
    child = ctx.Process(target=_source, args=(settings, src, records, batch, work_seconds, ready, go,
                                                          report_out))
    child.start()
    consumer, producer = clients.make_consumer(settings, f"bench-tuning-{tag}"), clients.make_producer(settings)
    relay = Relay(dst, work_seconds)
    port = KafkaConsumerPort(consumer, [src])
    runner = StageRunner(relay, port, KafkaProducerPort(producer), RuntimeSettings(batch_max_records=batch))
    while not port.assignment():
        runner.run_once()
    ready.wait(60)
    counters = [_counter(producer, "bytes-sent"), _counter(consumer, "bytes-sent"),
                _counter(consumer, "bytes-received")]
    before, cpu0, t0 = snapshot(), time.process_time(), time.monotonic()
    go.set()
    deadline = t0 + 300
    while relay.handled < len(records) and time.monotonic() < deadline:
        runner.run_once()
    seconds = time.monotonic() - t0
    relay_cpu, after = time.process_time() - cpu0, snapshot()
    child.join(60)
    source_cpu = report_in.recv() if report_in.poll(1) else float("nan")
    if relay.handled < len(records):
        raise SystemExit(f"relayed {relay.handled} of {len(records)} records in {seconds:.0f} s")
    requests = counters[0].count + counters[1].count
    net = counters[0].total + counters[2].total
    latency = quiet_latency(settings, src, relay, runner)
    stored = disk_bytes(src) + disk_bytes(dst)
    consumer.close(autocommit=False)
    producer.close(timeout=10)
    admin = clients.make_admin(settings)
    admin.delete_topics([src, dst])
    admin.close()
    k, broker = 1000 / len(records), after["Kafka broker"] - before["Kafka broker"]
    return {"rate": len(records) / seconds, "broker": max(0.0, broker - broker_idle * seconds) * k,
            "client": (relay_cpu + source_cpu - 2 * work_seconds * len(records)) * k,
            "requests": requests * k, "net_mb": net * k / 1e6,
            "disk_mb": stored * k / 1e6, "latency_ms": latency}


def quiet_latency(settings: KafkaSettings, topic: str, relay: Relay, runner: StageRunner) -> float:
    """Median milliseconds from sending a lone record (flushed at once) until the relay handles it,
    the relay polling as the runtime does: what linger and the fetch wait add when traffic is low."""
    producer = KafkaProducerPort(clients.make_producer(settings))
    waits = []
    for n in range(QUIET_RECORDS):
        key = f"quiet-{n}".encode()
        sent_at = time.monotonic()
        producer.send(Output(topic, key, b"{}", []))
        producer.flush(30)
        while key not in relay.seen and time.monotonic() < sent_at + 30:
            runner.run_once()
        waits.append((relay.seen.get(key, float("nan")) - sent_at) * 1000)
    producer.close()
    return statistics.median(waits)


def table(shape: str, results: dict[str, dict[str, float]]) -> None:
    base = results.get("today")
    print(f"\n{shape}: per 1,000 records (ratios against today's defaults, same run)")
    print(f"  {'variant':<22}{'rec/s':>8}{'broker CPU s':>13}{'client CPU s':>13}{'requests':>9}"
          f"{'net MB':>8}{'disk MB':>8}{'quiet ms':>9}   ratios: rate / broker / client / disk")
    for name, r in results.items():
        ratios = (f"{r['rate'] / base['rate']:.2f}x / {r['broker'] / base['broker']:.2f} / "
                  f"{r['client'] / base['client']:.2f} / {r['disk_mb'] / base['disk_mb']:.2f}"
                  if base and base["broker"] and base["client"] and base["disk_mb"] else "")
        print(f"  {name:<22}{r['rate']:>8.0f}{r['broker']:>13.3f}{r['client']:>13.3f}{r['requests']:>9.1f}"
              f"{r['net_mb']:>8.2f}{r['disk_mb']:>8.2f}{r['latency_ms']:>9.0f}   {ratios}", flush=True)


def best(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's best over the rounds (other people's load only ever adds)."""
    lower = {"broker", "client", "requests", "latency_ms"}
    return {key: (min if key in lower else max)(r[key] for r in rounds) for key in rounds[0]}


def broker_idle_rate(seconds: float = 3.0) -> float:
    """The broker's CPU seconds per second while this benchmark sends nothing (its own timers, and
    whatever else uses the stack): subtracted from each run's figure."""
    before = snapshot()["Kafka broker"]
    time.sleep(seconds)
    return (snapshot()["Kafka broker"] - before) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=2000, help="records of the small shape")
    parser.add_argument("--mixed", type=int, default=500, help="records of the mixed shape")
    parser.add_argument("--raw", type=int, default=150, help="mixed messages as mail.raw records (<= 512 KiB)")
    parser.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    args = parser.parse_args()
    bootstrap = os.environ.get("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS")
    if not bootstrap:
        raise SystemExit("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS is not set: start the stack (`make up`)")
    names = [n for n in args.only.split(",") if n] or list(VARIANTS)
    batch, rounds = RuntimeSettings().batch_max_records, int(os.environ.get("BENCH_ROUNDS", "1"))
    print(f"chosen defaults: { {k: getattr(KafkaSettings(bootstrap_servers='x'), k) for k in TODAY} }")
    started, idle = time.monotonic(), broker_idle_rate()
    print(f"broker idle: {idle:.3f} CPU s/s (subtracted); {rounds} rounds, order rotated, each figure's best")
    mixed = _common.mixed_corpus(args.mixed)
    # (shape, records, stand-in work per record in each of source and relay: the issue measured
    # the parser at 0.7 ms a small message and 5 ms a mixed one; scaled down to keep runs short)
    shapes = (("mail.parsed, small", lambda: envelopes(_common.small_corpus(args.small)), 0.0005),
              ("mail.parsed, mixed", lambda: envelopes(mixed), 0.002),
              ("mail.raw, mixed", lambda: raw_records(mixed[:args.raw]), 0.002))
    for shape, make, work_seconds in shapes:
        records = make()
        size = sum(len(v) for _, v, _ in records) / len(records)
        print(f"\n{shape}: {len(records)} records, {size / 1024:.1f} KiB average, batches of {batch}, "
              f"{work_seconds * 1000:.1f} ms work per record and hop", flush=True)

        def settings(name: str) -> KafkaSettings:
            overrides = {} if VARIANTS[name] == "defaults" else {**TODAY, **VARIANTS[name]}
            return KafkaSettings(bootstrap_servers=bootstrap, **overrides)

        run(settings("today"), records[:batch], batch, work_seconds, idle)  # warm-up, not counted
        results: dict[str, list[dict[str, float]]] = {n: [] for n in names}
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                results[name].append(run(settings(name), records, batch, work_seconds, idle))
        table(shape, {n: best(rs) for n, rs in results.items()})
    print(f"\n{time.monotonic() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
