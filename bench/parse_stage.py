"""Parser stage benchmark: the batch path against the per-record path, and processes against
threads for the parsing itself.

``stage`` (needs the local stack's S3): the mixed corpus of bench/_common.py as ``mail.raw``
records, claim-checked in the real S3 the way the fetcher does it (over 512 KiB; ``--claim-all``
for every record), run through ``ParseStage`` with the real S3 client once record by record
(``handle``, the path before batches) and once a poll batch at a time (``handle_batch``: GETs and
PUTs on a pool, overlapped with parsing). Prints records/s of each and the ratio, and the CPU
seconds of this process and of the S3 server during each run. Each round draws a corpus with a
fresh seed, which both paths run, its objects deleted after each, so every PUT is a real one
(content-addressed objects that already exist cost a HEAD only). ``--added-latency-ms`` adds a
round trip per S3 request, as a remote S3 has (the local one answers on loopback, but from the
same two cores, so there the overlap can only win what the S3 server and parsing do in parallel).

``pool`` (no stack): parsing only, the same corpus in this thread, in a pool of 2 threads and in a
pool of 2 processes, where each worker sends back what the stage needs (the ParsedEmail and the
objects to store), so the pickling both ways is in the figure; plus that pickling alone.

    .venv/bin/python bench/parse_stage.py stage [--records 600] [--batch 200] [--threads 4] [--rounds 2]
                                                [--claim-all] [--added-latency-ms 10]
    .venv/bin/python bench/parse_stage.py pool [--records 600]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from fetch_support.cpu import CLIENT, cpu_seconds  # noqa: E402
from mailpipe.common import clients  # noqa: E402
from mailpipe.common.messages import ParsedEmail, Sighting  # noqa: E402
from mailpipe.common.objects import get_content, put_at  # noqa: E402
from mailpipe.common.runtime.ports import Record  # noqa: E402
from mailpipe.common.settings import S3Settings  # noqa: E402
from mailpipe.parser.batch import IOBounds  # noqa: E402
from mailpipe.parser.mime import parse_email  # noqa: E402
from mailpipe.parser.stage import ParseStage  # noqa: E402
from pydantic import SecretStr  # noqa: E402

S3_GROUP = "S3 (versitygw)"  # fetch_support.cpu's group (the S3 server is shared: others' requests count too)
CLAIM_CHECK_BYTES = 512 * 1024  # the fetcher's default (MAILPIPE_FETCH__CLAIM_CHECK_BYTES)
SIGHTING = Sighting(mailbox_id="bench", folder="INBOX", uidvalidity=1, uid=1)


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} is not set: start the stack (`make up`) and load .state/stack.env")
    return value


def _s3() -> tuple[Any, str]:
    settings = S3Settings(endpoint_url=_env("MAILPIPE_S3__ENDPOINT_URL"),
                          access_key_id=_env("MAILPIPE_S3__ACCESS_KEY_ID"),
                          secret_access_key=SecretStr(_env("MAILPIPE_S3__SECRET_ACCESS_KEY")),
                          bucket=_env("MAILPIPE_S3__BUCKET"))
    return clients.make_s3(settings), settings.bucket


def _records(s3: Any, bucket: str, corpus: list[bytes], claim_all: bool) -> list[Record]:
    """``mail.raw`` records as the fetcher publishes them, the large ones claim-checked."""
    records = []
    for uid, raw in enumerate(corpus, 1):
        digest = hashlib.sha256(raw).hexdigest()
        headers = [("mailbox", b"bench"), ("folder", b"INBOX"), ("uidvalidity", b"1"), ("uid", str(uid).encode()),
                   ("size", str(len(raw)).encode()), ("sha256", digest.encode())]
        value: bytes | None = raw
        if claim_all or len(raw) > CLAIM_CHECK_BYTES:
            key = f"raw/sha256/{digest[:2]}/{digest}"
            put_at(s3, bucket, key, raw)
            headers.append(("claim-check", key.encode()))
            value = None
        records.append(Record("mail.raw", 0, uid, f"bench:{uid}".encode(), value, headers))
    return records


def _written_keys(stage: ParseStage, records: list[Record]) -> set[str]:
    keys = set()
    for record in records:
        parsed = stage.parse(record)
        keys |= {a.object_key for a in parsed.attachments}
        keys |= {k for k in (parsed.text_body_ref, parsed.html_body_ref) if k}
    return keys


def _delete(s3: Any, bucket: str, keys: set[str]) -> None:
    listed = sorted(keys)
    for i in range(0, len(listed), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in listed[i:i + 1000]]})


def stage_bench(args: argparse.Namespace) -> None:
    s3, bucket = _s3()
    delay = args.added_latency_ms / 1000

    def fetch(key: str) -> bytes:
        time.sleep(delay)
        return get_content(s3, bucket, key)

    def store(key: str, data: bytes) -> None:
        time.sleep(2 * delay)  # put_at is two requests: HEAD, then PUT
        put_at(s3, bucket, key, data)

    stage = ParseStage(fetch, store, io=IOBounds(threads=args.threads))

    def per_record(records: list[Record]) -> None:
        for record in records:
            stage.handle(record)

    def batched(records: list[Record]) -> None:
        for i in range(0, len(records), args.batch):
            stage.handle_batch(records[i:i + args.batch])

    best: dict[str, float] = {}
    ratios: list[float] = []  # batch over per record, round by round (the two ran back to back)
    for round_ in range(args.rounds):
        rates: dict[str, float] = {}
        # A fresh seed: bytes no one else stored. Both paths get the same corpus; its objects are
        # deleted after each, so every PUT is a real one. The order alternates against drift.
        corpus = _common.mixed_corpus(args.records, seed=random.randrange(1 << 30))
        modes = [("per record", per_record), ("batch", batched)]
        for label, run in modes if round_ % 2 == 0 else modes[::-1]:
            records = _records(s3, bucket, corpus, args.claim_all)
            with cpu_seconds() as cpu:
                started = time.perf_counter()
                run(records)
                seconds = time.perf_counter() - started
            rate = len(records) / seconds
            claimed = sum(1 for r in records if r.value is None)
            print(f"round {round_ + 1} {label:>10}: {rate:7.1f} records/s ({seconds:.2f} s, {claimed} claim-checked, "
                  f"{sum(map(len, corpus)) / 1e6:.0f} MB; CPU s: stage {cpu.get(CLIENT, 0):.2f}, "
                  f"S3 {cpu.get(S3_GROUP, 0):.2f})")
            best[label] = max(best.get(label, 0.0), rate)
            rates[label] = rate
            _delete(s3, bucket, _written_keys(ParseStage(lambda key: get_content(s3, bucket, key)), records)
                    | {r.header("claim-check").decode() for r in records if r.value is None})  # type: ignore[union-attr]
        ratios.append(rates["batch"] / rates["per record"])
    stage.close()
    print(f"best: per record {best['per record']:.1f} records/s, batch {best['batch']:.1f} records/s "
          f"(batch {args.batch}, {args.threads} I/O threads): ratio {best['batch'] / best['per record']:.2f}x; "
          f"median of the rounds' ratios {statistics.median(ratios):.2f}x")


def parse_for_stage(raw: bytes) -> tuple[ParsedEmail, dict[str, bytes]]:
    """What a parse worker would send back to the stage: the parse and the objects to store."""
    pending: dict[str, bytes] = {}
    parsed = parse_email(raw, SIGHTING, sha256="0", store=pending.__setitem__)
    return parsed, pending


def _pooled(pool: Executor, corpus: list[bytes], chunksize: int) -> float:
    started = time.perf_counter()
    for _ in pool.map(parse_for_stage, corpus, chunksize=chunksize):
        pass
    return time.perf_counter() - started


def pool_bench(args: argparse.Namespace) -> None:
    corpus = _common.mixed_corpus(args.records)
    megabytes = sum(map(len, corpus)) / 1e6
    results = [parse_for_stage(raw) for raw in corpus]  # warm-up, and the results to pickle

    def pickling() -> None:
        for raw, result in zip(corpus, results, strict=True):
            pickle.loads(pickle.dumps(raw, protocol=pickle.HIGHEST_PROTOCOL))
            pickle.loads(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))

    runs: dict[str, Callable[[], float]] = {
        "this thread": lambda: _common.timed(parse_for_stage, corpus),
        "2 threads": lambda: _with(ThreadPoolExecutor(2), corpus),
        "2 processes": lambda: _with(ProcessPoolExecutor(2), corpus),
        "2 processes, 16 a task": lambda: _with(ProcessPoolExecutor(2), corpus, chunksize=16),
        "pickling alone": lambda: _timed_call(pickling),
    }
    best = {label: min(run() for _ in range(args.rounds)) for label, run in runs.items()}
    base = best["this thread"]
    print(f"{len(corpus)} mixed messages, {megabytes:.0f} MB, best of {args.rounds}:")
    for label, seconds in best.items():
        print(f"  {label:>22}: {seconds:6.2f} s  {len(corpus) / seconds:7.1f} msg/s  {base / seconds:5.2f}x")


def _with(pool: Executor, corpus: list[bytes], chunksize: int = 1) -> float:
    with pool:
        list(pool.map(parse_for_stage, corpus[:4]))  # workers started (and imports done) outside the timing
        return _pooled(pool, corpus, chunksize)


def _timed_call(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    stage = sub.add_parser("stage")
    stage.add_argument("--records", type=int, default=600)
    stage.add_argument("--batch", type=int, default=200, help="records per poll batch (the runtime's default)")
    stage.add_argument("--threads", type=int, default=IOBounds().threads)
    stage.add_argument("--rounds", type=int, default=2)
    stage.add_argument("--claim-all", action="store_true", help="claim-check every record, not only large ones")
    stage.add_argument("--added-latency-ms", type=float, default=0.0,
                       help="sleep this long per S3 request: a remote S3's round trip (the local one is on loopback)")
    pool = sub.add_parser("pool")
    pool.add_argument("--records", type=int, default=600)
    pool.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    stage_bench(args) if args.part == "stage" else pool_bench(args)


if __name__ == "__main__":
    main()
