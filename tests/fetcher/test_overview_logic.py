"""Pure logic of ``accounts overview``: placing a dead letter of any stage on its sighting, and the
precedence of outcomes (the pipeline test in test_overview_outcomes.py shows them for real)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mailpipe.common.dlqtool import DeadLetter, DeadLetterId
from mailpipe.fetcher.downstream import DeadLetterSeen, sighting_of
from mailpipe.fetcher.overview import FATES, Facts, describe

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
AT = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)


def letter(value: bytes | None, headers: list[tuple[str, bytes]], topic: str = "mail.parsed.dlq") -> DeadLetter:
    return DeadLetter(DeadLetterId(topic, 0, 7), AT, b"k", value, headers)


def test_a_dead_letter_is_placed_by_its_raw_headers_or_its_envelope() -> None:
    raw = letter(b"", [("mailbox", b"box"), ("folder", b"INBOX"), ("uidvalidity", b"9"), ("uid", b"4"),
                       ("dlq-stage", b"parser")], "mail.raw.dlq")
    found = sighting_of(raw, "box")
    assert found is not None and (found.folder, found.uidvalidity, found.uid) == ("INBOX", 9, 4)
    assert sighting_of(raw, "other") is None

    for example in ("mail.parsed.v1/basic.json", "mail.matched.v1/skipped.json"):
        value = (EXAMPLES / example).read_bytes()  # sighting demo/INBOX/1/1, in payload or payload.email
        placed = sighting_of(letter(value, [("email-id", b"x")]), "demo")
        assert placed is not None and (placed.folder, placed.uid) == ("INBOX", 1), example
        assert sighting_of(letter(value, []), "someone-else") is None
    assert sighting_of(letter(b"demo: not json", []), "demo") is None
    assert sighting_of(letter(b'{"payload": {"demo": 1}}', []), "demo") is None


def facts(**kw: object) -> Facts:
    base: dict[str, object] = dict(ledger=("published", None, AT), stored=False, skipped=None, letters=[],
                                   beyond_cursor=False, raw_dlq="mail.raw.dlq")
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


def test_each_outcome_and_which_wins() -> None:
    dead = DeadLetterSeen("mail.raw.dlq:0:7", "mail.raw.dlq", "parser", "not_mail", "", AT.isoformat(), True)
    cases = {
        "stored": facts(stored=True, letters=[dead]),  # dead-lettered, replayed, then stored
        "skipped": facts(skipped="filter:mailbox:news"),
        "dead_lettered": facts(letters=[dead]),
        "in_flight": facts(),
        "not_fetched": facts(ledger=None, beyond_cursor=True),
        "not_in_ledger": facts(ledger=None),
    }
    texts = {}
    for fate, f in cases.items():
        got, texts[fate] = describe(f)
        assert got == fate
    assert set(cases) == set(FATES)
    assert texts["stored"].endswith("→ stored (dead-lettered before: mail.raw.dlq by parser: not_mail (replayed))")
    assert texts["skipped"] == "published at 2026-03-05 10:00:00 → skipped by the matcher: filter:mailbox:news"
    assert texts["not_fetched"] == "not fetched yet"

    # the server could not deliver it: dead-lettered by the fetcher even when the letter is gone
    fate, text = describe(facts(ledger=("failed", "server said NO", AT)))
    assert fate == "dead_lettered" and "mail.raw.dlq by fetcher: fetch_failed" in text
    assert describe(facts(ledger=("headers_only", "over_size_limit", AT), stored=True))[1].startswith(
        "headers_only (over_size_limit) at")
    fate, text = describe(facts(stored=None))
    assert fate == "in_flight" and "storage's tables are not in this database" in text
