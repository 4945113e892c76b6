"""bench/s3_requests: what one S3 request costs the client (boto3 through the project's factory).

The parser sends a HEAD and a PUT per new attachment and a GET per claim-checked message; the
fetcher a PUT per claim-check. This prints the client's CPU milliseconds per HEAD, GET and PUT of
``--size`` bytes against the local stack's S3 (best of 3 rounds of ``--requests``), and the
client CPU to SHA-256 the same bytes, for scale: below a few hundred KB the request, not the bytes,
is the cost. Needs the local stack (``make up``; MAILPIPE_S3__* from .state/stack.env).

Run: ``.venv/bin/python bench/s3_requests.py [--requests 200] [--size 100000]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable

from mailpipe.common import clients
from mailpipe.common.settings import S3Settings


def cpu_ms(fn: Callable[[], object], count: int, rounds: int = 3) -> float:
    """Best-of-``rounds`` client CPU milliseconds per call of ``fn``."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(count):
            fn()
        best = min(best, (time.process_time() - started) / count)
    return 1000 * best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--size", type=int, default=100_000, help="bytes per object (default 100000)")
    args = parser.parse_args()
    env = os.environ
    if "MAILPIPE_S3__ENDPOINT_URL" not in env:
        print("MAILPIPE_S3__ENDPOINT_URL is not set: start the stack (`make up`) and load .state/stack.env")
        return 2
    settings = S3Settings(endpoint_url=env["MAILPIPE_S3__ENDPOINT_URL"], bucket=env["MAILPIPE_S3__BUCKET"],
                          access_key_id=env["MAILPIPE_S3__ACCESS_KEY_ID"],
                          secret_access_key=env["MAILPIPE_S3__SECRET_ACCESS_KEY"])  # type: ignore[arg-type]
    s3, bucket = clients.make_s3(settings), settings.bucket
    data = os.urandom(args.size)
    key = f"bench/s3-requests/{hashlib.sha256(data).hexdigest()}"
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    try:
        print(f"client CPU per request, {args.requests} requests x 3 rounds, objects of {args.size:,} bytes:")
        for label, fn in (("HEAD", lambda: s3.head_object(Bucket=bucket, Key=key)),
                          ("GET", lambda: s3.get_object(Bucket=bucket, Key=key)["Body"].read()),
                          ("PUT", lambda: s3.put_object(Bucket=bucket, Key=key, Body=data)),
                          ("sha256 of the bytes (no request)", lambda: hashlib.sha256(data).digest())):
            print(f"  {label:34s} {cpu_ms(fn, args.requests):6.2f} ms")
    finally:
        s3.delete_object(Bucket=bucket, Key=key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
