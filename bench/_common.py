"""Shared by the benchmarks: a deterministic corpus generator and small timing helpers.

The corpus is built from raw byte templates (fast to generate, exact control over shapes) in the
shapes real mail has: plain text, multipart/alternative (Gmail), Outlook-style HTML with an inline
image, Apple Mail-style quoted-printable, RFC 2047 encoded and raw UTF-8 (8-bit) headers, RFC 2231
filenames, binary attachments of 20 KB to 960 KB (base64: up to ~1.3 MB). The same seed always
gives the same bytes.

- ``mixed_corpus(2000)``: average ~230 KB (230.0 KB), a third with attachments;
- ``small_corpus(10000)``: ~3 KB each (3.1 KB average), no attachments.
"""

from __future__ import annotations

import base64
import quopri
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime

NAMES = ["Alice Andersen", "Bob Brown", "Chloé Dubois", "Dag Hansen", "Eva Jørgensen", "山田 太郎", "Łukasz Nowak",
         "Jane Doe", "O'Neil, Pat", "Zoë Ângström"]
DOMAINS = ["acme.example", "nordlys.example", "kyoto-trading.example", "mail.example", "firma.example"]
SUBJECTS = ["Quote for pallets", "Meeting next week", "Invoice {n}", "Re: delivery schedule", "Contract draft",
            "Grüße aus München", "Årsrapport {n}", "見積もりのお願い", "Question about order {n}",
            "Shipping update [Task#{n}]", "Привет, отчёт {n}"]
FILENAMES = ["offer.pdf", "photo.jpg", "Übersicht.xlsx", "contract v2.docx", "見積書.pdf", "report (final).zip"]
WORDS = [
    "the", "of", "and", "to", "in", "is", "for", "on", "that", "with", "as", "at", "by", "this", "from", "we",
    "our", "your", "order", "delivery", "invoice", "meeting", "price", "pallet", "contract", "schedule",
    "shipment", "regards", "thanks", "please", "next", "week",
]


def _person(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(NAMES)
    local = name.split()[0].lower().strip(",'").encode("ascii", "ignore").decode() or "user"
    return name, f"{local}{rng.randrange(100)}@{rng.choice(DOMAINS)}"


def _address(rng: random.Random, person: tuple[str, str], raw8bit: bool) -> str:
    name, addr = person
    if name.isascii():
        return f'"{name}" <{addr}>' if "," in name else f"{name} <{addr}>"
    if raw8bit:
        return f'"{name}" <{addr}>'
    return f"{Header(name, 'utf-8').encode()} <{addr}>"


def _subject(rng: random.Random, n: int, raw8bit: bool) -> str:
    text = rng.choice(SUBJECTS).format(n=1000 + n)
    if text.isascii() or raw8bit:
        return text
    return Header(text, "utf-8").encode(maxlinelen=76)


def _text(rng: random.Random, words: int) -> str:
    lines, line = [], []
    for _ in range(words):
        line.append(rng.choice(WORDS))
        if len(line) >= 12:
            lines.append(" ".join(line))
            line = []
    lines.append(" ".join(line) + " Grüße, Smørrebrød ✓.")
    return "\n".join(lines)


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def message(rng: random.Random, n: int, *, attachment_bytes: int = 0, body_words: int = 80) -> bytes:
    """One message; ``attachment_bytes`` > 0 adds a binary attachment of about that size."""
    raw8bit = n % 6 == 5
    sender, to = _person(rng), _person(rng)
    date = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=17 * n)
    head = [f"Message-ID: <bench-{n}@{rng.choice(DOMAINS)}>", f"Date: {format_datetime(date)}",
            f"From: {_address(rng, sender, raw8bit)}", f"To: {_address(rng, to, raw8bit)}",
            f"Subject: {_subject(rng, n, raw8bit)}", "MIME-Version: 1.0"]
    if n % 4 == 1:
        head.append(f"Cc: {_address(rng, _person(rng), raw8bit)}, {_address(rng, _person(rng), raw8bit)}")
    if n % 5 == 2:
        head += [f"In-Reply-To: <bench-{n - 1}@acme.example>", f"References: <bench-{n - 2}@acme.example> "
                                                                  f"<bench-{n - 1}@acme.example>"]
    text = _text(rng, body_words)
    html = "<html><body><p>" + text.replace("\n", "<br>\n") + "</p></body></html>"
    shape = n % 3
    if shape == 0:
        body = [b"Content-Type: text/plain; charset=utf-8", b"Content-Transfer-Encoding: quoted-printable", b"",
                quopri.encodestring(text.encode("utf-8")).replace(b"\n", b"\r\n")]
    else:
        alt = b"alt-" + str(n).encode()
        body = [b"Content-Type: multipart/alternative; boundary=\"" + alt + b"\"", b"", b"--" + alt,
                b"Content-Type: text/plain; charset=utf-8", b"Content-Transfer-Encoding: 8bit", b"",
                text.encode("utf-8").replace(b"\n", b"\r\n"), b"--" + alt,
                b"Content-Type: text/html; charset=utf-8", b"Content-Transfer-Encoding: base64", b"",
                _b64(html.encode("utf-8")), b"--" + alt + b"--", b""]
    if attachment_bytes:
        mixed = b"mixed-" + str(n).encode()
        name = rng.choice(FILENAMES)
        if name.isascii():
            disp = f'attachment; filename="{name}"'
        else:
            disp = "attachment; filename*=utf-8''" + "".join(
                c if c.isalnum() and c.isascii() or c in ".-_" else "".join(f"%{b:02X}" for b in c.encode())
                for c in name)
        data = rng.randbytes(attachment_bytes)
        body = [b"Content-Type: multipart/mixed; boundary=\"" + mixed + b"\"", b"", b"--" + mixed, *body,
                b"--" + mixed, b"Content-Type: application/octet-stream", b"Content-Transfer-Encoding: base64",
                b"Content-Disposition: " + disp.encode(), b"", _b64(data), b"--" + mixed + b"--", b""]
    header = "\r\n".join(head).encode("utf-8")
    return header + b"\r\n" + b"\r\n".join(body)


def mixed_messages(count: int, seed: int = 11) -> Iterator[bytes]:
    """``count`` messages averaging ~230 KB, every third with an attachment of 20 KB to 960 KB, one
    at a time (bench/fetch writes 10,000 of them without holding them all)."""
    rng = random.Random(seed)
    for n in range(count):
        yield message(rng, n, attachment_bytes=rng.randrange(20_000, 960_000) if n % 3 == 0 else 0,
                      body_words=rng.randrange(100, 600))


def mixed_corpus(count: int = 2000, seed: int = 11) -> list[bytes]:
    """The first ``count`` of ``mixed_messages``, as a list."""
    return list(mixed_messages(count, seed))


def small_corpus(count: int = 10000, seed: int = 12) -> list[bytes]:
    """``count`` messages of ~3 KB, no attachments."""
    rng = random.Random(seed)
    return [message(rng, n, body_words=rng.randrange(150, 330)) for n in range(count)]


def timed(fn: Callable[[bytes], object], corpus: list[bytes]) -> float:
    """Seconds ``fn`` takes over the whole corpus (one core, one pass)."""
    started = time.perf_counter()
    for raw in corpus:
        fn(raw)
    return time.perf_counter() - started


def batches(items: list[bytes], size: int) -> Iterator[list[bytes]]:
    """``items`` in lists of ``size``."""
    for i in range(0, len(items), size):
        yield items[i:i + size]
