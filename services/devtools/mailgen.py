"""A deterministic corpus of varied emails and the CRM directory that matches part of it.

Shapes: plain text, HTML only, multipart/alternative, attachments (some over the claim-check
threshold), non-ASCII headers as RFC 2047 encoded words, replies with In-Reply-To/References,
``[Task#N]`` subjects, unknown senders. The same seed always gives the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime

COMPANIES = [("acme", "Acme Logistics", "acme.example"), ("nordlys", "Nordlys Energi", "nordlys.example"),
             ("kyoto", "Kyōto Trading 京都", "kyoto-trading.example")]
PERSONS = [
    ("p1", "Alice Andersen", "alice@acme.example", "acme"), ("p2", "Bob Brown", "bob@acme.example", "acme"),
    ("p3", "Chloé Dubois", "chloe@acme.example", "acme"),
    ("p4", "Dag Hansen", "dag@nordlys.example", "nordlys"),
    ("p5", "Eva Jørgensen", "eva@nordlys.example", "nordlys"),
    ("p6", "Frida Berg", "frida@nordlys.example", "nordlys"),
    ("p7", "山田 太郎", "yamada@kyoto-trading.example", "kyoto"),
    ("p8", "Hana Sato", "hana@kyoto-trading.example", "kyoto"),
    ("p9", "Ivan Petrov", "ivan.petrov@mail.example", ""), ("p10", "Jane Doe", "jane.doe@mail.example", ""),
]
STRANGERS = [("Newsletter", "news@shop.example"), ("Kim Unknown", "kim@elsewhere.example"),
             ("Łukasz Nowak", "lukasz@firma.example"), ("", "noreply@service.example")]
OUR_MAILBOX = ("Sales", "sales@mailpipe.test")
SUBJECTS = ["Quote for pallets", "Meeting next week", "Invoice {n}", "Re: delivery schedule", "Contract draft",
            "Grüße aus München", "Årsrapport {n}", "見積もりのお願い", "Question about order {n}", "Shipping update"]
TEXT = ("Hello,\n\nthank you for your message. Here are the details we discussed.\n"
        "Best regards\n")


@dataclass(frozen=True)
class Generated:
    message_id: str
    raw: bytes
    sender: str
    recipients: tuple[str, ...]


def directory() -> list[dict[str, object]]:
    """The demo CRM directory: companies and their persons."""
    items: list[dict[str, object]] = [{"type": "company", "id": cid, "name": name, "emails": [f"info@{host}"]}
                                      for cid, name, host in COMPANIES]
    items += [{"type": "person", "id": pid, "name": name, "emails": [addr], "company_ids": [cid] if cid else []}
              for pid, name, addr, cid in PERSONS]
    return items


def corpus(count: int = 220, seed: int = 7, large_every: int = 50) -> list[Generated]:
    """``count`` emails; every ``large_every``-th carries a ~700 KB attachment (over 512 KiB)."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    out: list[Generated] = []
    for n in range(count):
        msg = EmailMessage()
        people = [(p[1], p[2]) for p in PERSONS]
        if n % 2 == 0:
            sender, to = rng.choice(people + STRANGERS), [OUR_MAILBOX]
        else:
            sender, to = OUR_MAILBOX, [rng.choice(people + STRANGERS)]
        cc = [rng.choice(people)] if n % 7 == 0 else []
        subject = rng.choice(SUBJECTS).format(n=1000 + n)
        if n % 9 == 0:
            subject += f" [Task#{100 + n % 17}]"
        mid = f"<demo-{seed}-{n}@mailpipe.test>"
        msg["Message-ID"] = mid
        msg["Date"] = format_datetime(start + timedelta(minutes=37 * n))
        msg["From"] = _addr(*sender)
        msg["To"] = [_addr(*a) for a in to]
        if cc:
            msg["Cc"] = [_addr(*a) for a in cc]
        if n % 5 == 3 and out:
            parent = out[rng.randrange(len(out))]
            msg["In-Reply-To"] = parent.message_id
            msg["References"] = parent.message_id
            subject = "Re: " + subject
        msg["Subject"] = subject
        _body(msg, n, rng, large=large_every > 0 and n % large_every == large_every - 1)
        out.append(Generated(mid, bytes(msg), sender[1], tuple(a[1] for a in to + cc)))
    return out


def _addr(name: str, address: str) -> HeaderAddress:
    local, domain = address.split("@")
    return HeaderAddress(display_name=name, username=local, domain=domain)


def _body(msg: EmailMessage, n: int, rng: random.Random, large: bool) -> None:
    shape = n % 4
    text = TEXT + f"Reference {n}.\n" + ("Ærø, Smørrebrød, 日本語のテキスト.\n" if n % 3 == 0 else "")
    if shape == 1:
        msg.set_content(f"<html><body><p>{text.replace(chr(10), '<br>')}</p></body></html>", subtype="html")
    else:
        msg.set_content(text)
        if shape == 2:
            msg.add_alternative(f"<html><body><p>{text}</p></body></html>", subtype="html")
    if shape == 3 or large:
        size = 700_000 if large else rng.randrange(2_000, 60_000)
        data = rng.randbytes(size)
        name = rng.choice(["offer.pdf", "photo.jpg", "Übersicht.xlsx", "contract v2.docx"])
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
