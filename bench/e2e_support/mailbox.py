"""The benchmark's mailboxes: one Dovecot user per corpus and size, written as Maildir files by the
fetch benchmark's writer (bench/fetch.py) and reused while complete."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import _common
import fetch  # bench/fetch.py: its Maildir writer and its mbsync run
from fetch_support.stack import Server

# corpus name -> (full size, messages generator); the generators are bench/_common.py's corpora
CORPORA: dict[str, tuple[int, Callable[[int], Iterator[bytes]]]] = {
    "mixed": (2000, lambda n: _common.mixed_messages(n, 11)),  # = mixed_corpus(n), one at a time
    "small": (10000, lambda n: iter(_common.small_corpus(n))),
}


def ensure_mailbox(server: Server, corpus: str, count: int) -> tuple[str, int]:
    """The Dovecot user holding the first ``count`` messages of ``corpus``; returns it and the
    bytes as served. The name carries the corpus generator's fingerprint, so a changed generator
    gets a new mailbox."""
    user = f"bench-e2e-{corpus}-{count}-{fetch.corpus_fingerprint()}@mailpipe.test"
    generate = CORPORA[corpus][1]
    # fetch.ensure_mailbox writes what fetch.corpus(count) yields: point it at this corpus meanwhile
    original = fetch.corpus
    fetch.corpus = lambda n, seed=0: generate(n)
    try:
        _, size = fetch.ensure_mailbox(server, user, count)
    finally:
        fetch.corpus = original
    fetch.warm_page_cache(user)
    return user, size


run_mbsync = fetch.run_mbsync
