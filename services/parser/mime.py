"""Pure MIME parsing: bytes in, a ParsedEmail out. No Kafka, no S3.

The skeleton uses the stdlib ``email`` package with ``policy.default`` (correct decoding of
encoded words and 8-bit headers). Malformed-but-readable mail is data: defects are recorded,
not raised. Only bytes that are not mail at all raise PoisonMessage.
"""

from __future__ import annotations

import email
import email.utils
import html
import re
from datetime import datetime
from email import policy
from email.message import EmailMessage, Message

from ..common.errors import PoisonMessage
from ..common.identity import email_id, normalize_message_id
from ..common.messages import Address, ParsedEmail, Sighting

TEXT_CAP_CHARS = 64 * 1024
MAX_REFERENCES = 32
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:", re.MULTILINE)  # a field name, then a colon
_TAGS = re.compile(r"<[^>]+>")


def parse_email(raw: bytes, sighting: Sighting, *, sha256: str, size: int | None = None,
                internal_date: datetime | None = None, raw_ref: str | None = None) -> ParsedEmail:
    """Parse one message. Raises PoisonMessage("not_mail") when ``raw`` has no header at all."""
    if not raw.strip() or not _HEADER_LINE.match(raw.lstrip()):
        raise PoisonMessage("not_mail", "no RFC 822 header found at the start of the message")
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    message_id = normalize_message_id(_header(msg, "Message-ID"))
    subject = _header(msg, "Subject")
    senders = _addresses(msg, "From")
    text = _text_body(msg)
    date = _date(msg)
    fallback = (",".join(a.address for a in senders), _header(msg, "Date"), subject, text)
    return ParsedEmail(
        email_id=email_id(message_id, fallback),
        message_id=message_id,
        sighting=sighting,
        subject=subject,
        **{"from": senders},
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        date=date or internal_date,
        internal_date=internal_date,
        in_reply_to=normalize_message_id(_header(msg, "In-Reply-To").split(" ")[0] or None),
        references=_references(msg)[-MAX_REFERENCES:],
        size_bytes=size if size is not None else len(raw),
        sha256=sha256,
        raw_ref=raw_ref,
        text_body=text[:TEXT_CAP_CHARS],
        attachment_names=[n for n in (_filename(p) for p in msg.iter_attachments()) if n],
        defects=_defects(msg),
    )


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # policy.default raises on a few malformed headers; the header is then lost
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _addresses(msg: Message, name: str) -> list[Address]:
    try:
        values = msg.get_all(name) or []
        pairs = email.utils.getaddresses([str(v) for v in values])
    except Exception:
        return []
    seen: dict[str, Address] = {}
    for display, addr in pairs:
        addr = addr.strip().lower()
        if "@" in addr and addr not in seen:
            seen[addr] = Address(name=display.strip(), address=addr)
    return list(seen.values())


def _date(msg: Message) -> datetime | None:
    raw = _header(msg, "Date")
    try:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
    except (TypeError, ValueError):
        return None
    return parsed if parsed and parsed.tzinfo else None


def _references(msg: Message) -> list[str]:
    ids = re.findall(r"<([^<>\s]+)>", _header(msg, "References"))
    return [n for n in (normalize_message_id(i) for i in ids) if n]


def _text_body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # unknown charset or broken encoding
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        content = html.unescape(_TAGS.sub(" ", content))
    return content.strip()


def _filename(part: Message) -> str | None:
    try:
        return part.get_filename()
    except Exception:
        return None


def _defects(msg: Message) -> list[str]:
    names = set()
    for part in msg.walk():
        names.update(type(d).__name__ for d in part.defects)
    return sorted(names)


