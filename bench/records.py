"""bench/records: what a record costs between stages (issue 13's "lean records" questions).

Both corpora of bench/_common.py are parsed once (not timed) into the envelopes the pipeline sends.
Two measurements, no stack needed:

- **JSON path**: each stage decodes its input once (pydantic-core's ``model_validate_json``) and
  encodes each output once (``model_dump_json``). Against orjson, the usual faster choice:
  ``orjson.loads`` then ``model_validate`` (the validation cannot be skipped: it is the contract
  check), and ``orjson.dumps`` of ``model_dump(mode="json")``; plus pydantic-core's bytes serializer
  (``__pydantic_serializer__.to_json``, no str copy). CPU microseconds per ``mail.parsed`` record,
  best of 5, and the ratio to today's path.
- **Bytes per topic**: the mean record on ``mail.raw`` (the value; claim-checked messages carry
  none), ``mail.parsed`` and ``mail.matched``, plain and lz4-compressed in batches of 50 (the
  producer's default codec), and ``mail.matched``'s share of all three. The matched record repeats
  the parsed summary; its share bounds what a by-reference ``mail.matched`` could save the broker.

Run: ``.venv/bin/python bench/records.py [--records N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import lz4.frame  # noqa: E402
import orjson  # noqa: E402
from mailpipe.common.messages import (  # noqa: E402
    MatchedEmail,
    MatchedEnvelope,
    ParsedEnvelope,
    Sighting,
    encode,
)
from mailpipe.parser.mime import parse_email  # noqa: E402

CLAIM_CHECK_BYTES = 512 * 1024  # the fetcher's default (MAILPIPE_FETCH__CLAIM_CHECK_BYTES)
SIGHTING = Sighting(mailbox_id="bench", folder="INBOX", uidvalidity=1, uid=1)


def envelopes(corpus: Sequence[bytes]) -> list[ParsedEnvelope]:
    """The ``mail.parsed`` envelope of every message."""
    out = []
    for raw in corpus:
        parsed = parse_email(raw, SIGHTING, sha256=hashlib.sha256(raw).hexdigest())
        out.append(ParsedEnvelope(email_id=parsed.email_id, producer="parser", payload=parsed))
    return out


def per_record_us(fn: Callable[[], object], count: int, rounds: int = 5) -> float:
    """Best-of-``rounds`` CPU microseconds per record of ``fn`` (which handles ``count`` records)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return 1e6 * best / count


def json_path(envs: list[ParsedEnvelope]) -> None:
    blobs = [encode(e) for e in envs]
    n = len(envs)
    rows = [
        ("decode", "model_validate_json (today)", lambda: [ParsedEnvelope.model_validate_json(b) for b in blobs]),
        ("decode", "orjson.loads + model_validate",
         lambda: [ParsedEnvelope.model_validate(orjson.loads(b)) for b in blobs]),
        ("encode", "model_dump_json (today)", lambda: [encode(e) for e in envs]),
        ("encode", "orjson.dumps(model_dump(mode=json))",
         lambda: [orjson.dumps(e.model_dump(mode="json", by_alias=True)) for e in envs]),
        ("encode", "__pydantic_serializer__.to_json",
         lambda: [e.__pydantic_serializer__.to_json(e, by_alias=True) for e in envs]),
    ]
    today: dict[str, float] = {}
    print(f"  JSON path, mail.parsed records of {statistics.mean(map(len, blobs)) / 1024:.1f} KiB on average:")
    for kind, label, fn in rows:
        us = per_record_us(fn, n)
        today.setdefault(kind, us)
        print(f"    {kind} {label:38s} {us:7.1f} us/record  {us / today[kind]:5.2f}x today")


def lz4_bytes(records: Sequence[bytes], batch: int = 50) -> float:
    """Mean compressed bytes per record when ``batch`` records share an lz4 frame."""
    total = sum(len(lz4.frame.compress(b"".join(records[i:i + batch]))) for i in range(0, len(records), batch))
    return total / len(records)


def topic_bytes(corpus: Sequence[bytes], envs: list[ParsedEnvelope]) -> None:
    raw = [m if len(m) <= CLAIM_CHECK_BYTES else b"" for m in corpus]
    parsed = [encode(e) for e in envs]
    matched = [encode(MatchedEnvelope(email_id=e.email_id, producer="matcher", payload=MatchedEmail(email=e.payload)))
               for e in envs]
    sizes = {name: (statistics.mean(map(len, recs)), lz4_bytes(recs))
             for name, recs in (("mail.raw", raw), ("mail.parsed", parsed), ("mail.matched", matched))}
    print("  KiB per record, plain / lz4: " + ", ".join(
        f"{name} {plain / 1024:.1f} / {packed / 1024:.1f}" for name, (plain, packed) in sizes.items()))
    share = sizes["mail.matched"][1] / sum(packed for _, packed in sizes.values())
    print(f"  mail.matched: {100 * share:.0f} % of the compressed bytes of the three topics")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2000, help="messages of each corpus (default 2000)")
    args = parser.parse_args()
    for name, corpus in (("mixed", _common.mixed_corpus(min(args.records, 2000))),
                         ("small", _common.small_corpus(args.records))):
        print(f"{name}: {len(corpus)} messages")
        envs = envelopes(corpus)
        json_path(envs)
        topic_bytes(corpus, envs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
