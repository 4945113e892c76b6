"""What the matcher needs to know before it answers or links: automatic mail, bounces, and the
subject's task token."""

from __future__ import annotations

import re
from email.message import Message

from ..common.messages import Address, Bounce, BounceRecipient, TaskToken
from .addresses import addresses
from .constants import DELIVERY_STATUS
from .headers import collapse, repair
from .tree import raw_header, raw_headers

_PRECEDENCE = {"bulk", "list", "junk", "auto_reply"}
_PRESENCE = ("x-autoreply", "x-autorespond", "x-auto-response-suppress", "list-unsubscribe", "x-loop")
_DAEMONS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}
_TASK = re.compile(r"\[(\w+)#(\d{1,18})\]\s*$")
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_TYPED_ADDRESS = re.compile(r"^\s*[A-Za-z0-9-]+\s*;\s*<?([^<>\s]+@[^<>\s]+?)>?\s*$")


def auto_submitted_reasons(msg: Message) -> list[str]:
    """Why ``msg`` is automatic mail (RFC 3834 and the de-facto headers), empty when it is not."""
    reasons: list[str] = []
    auto = raw_header(msg, "auto-submitted")
    if auto is not None:
        token = collapse(repair(auto)).split(";")[0].strip().lower()[:40]
        if token != "no":
            reasons.append(f"auto-submitted:{token or 'empty'}")
    for raw in raw_headers(msg, "precedence"):
        value = collapse(repair(raw)).lower()
        if value in _PRECEDENCE:
            reasons.append(f"precedence:{value}")
    reasons += [name for name in _PRESENCE if raw_header(msg, name) is not None]
    return reasons


def return_path(msg: Message) -> str | None:
    """The Return-Path's address (the envelope sender delivery recorded; RFC 3834 §4 answers it),
    '' for the null path ``<>`` (nobody may be answered), None when the header is absent."""
    raw = raw_header(msg, "return-path")
    if raw is None:
        return None
    value = collapse(repair(raw)).strip()
    if value.startswith("<"):
        value = value[1:].split(">", 1)[0]
    return value.strip()[:320]


def content_language(msg: Message) -> str | None:
    """The first language tag of Content-Language (RFC 3282), lower-cased, e.g. ``de-at``."""
    raw = raw_header(msg, "content-language")
    first = collapse(repair(raw)).split(",")[0].strip().lower()[:35] if raw is not None else ""
    return first if re.fullmatch(r"[a-z]{1,8}(-[a-z0-9]{1,8})*", first) else None


def task_token(subject: str) -> TaskToken | None:
    """The ``[Word#1234]`` token ending the subject, if any (brackets and ``#`` required)."""
    m = _TASK.search(subject)
    if m is None:
        return None
    return TaskToken(word=m.group(1), number=int(m.group(2)), text=m.group(0).strip())


def bounce(msg: Message, senders: list[Address], text_body: str) -> Bounce | None:
    """A bounce: a ``multipart/report`` with delivery status (its failed recipients, with status
    codes), else mail from a mailer-daemon (X-Failed-Recipients and the first status code in the
    body)."""
    status_blocks = _delivery_status_blocks(msg)
    if status_blocks is not None:
        return Bounce(kind="dsn", recipients=_dsn_recipients(status_blocks))
    if not any(a.address.split("@")[0] in _DAEMONS for a in senders):
        return None
    m = _STATUS.search(text_body)
    status = m.group(1) if m else None
    failed = addresses(msg, "x-failed-recipients")
    return Bounce(kind="mailer_daemon",
                  recipients=[BounceRecipient(address=a.address, status=status, action="failed") for a in failed])


def _delivery_status_blocks(msg: Message) -> list[Message] | None:
    """The field blocks of the message/delivery-status part of a multipart/report, else None.
    Parts inside attached messages are not looked at (a bounce quotes the original)."""
    if msg.get_content_type() != "multipart/report":
        return None
    payload = msg.get_payload()
    if not isinstance(payload, list):
        return None
    for part in payload:
        if isinstance(part, Message) and part.get_content_type() == DELIVERY_STATUS:
            blocks = part.get_payload()
            return [b for b in blocks if isinstance(b, Message)] if isinstance(blocks, list) else []
    report_type = (msg.get_param("report-type") or "")
    return [] if str(report_type).lower() == "delivery-status" else None


def _dsn_recipients(blocks: list[Message]) -> list[BounceRecipient]:
    out: list[BounceRecipient] = []
    for block in blocks:
        recipient = raw_header(block, "final-recipient") or raw_header(block, "original-recipient")
        if recipient is None:
            continue  # the per-message block (Reporting-MTA, Arrival-Date)
        m = _TYPED_ADDRESS.match(collapse(repair(recipient)))
        address = m.group(1).lower() if m else collapse(repair(recipient)).lower()[:320]
        status = _field(block, "status")
        sm = _STATUS.search(status or "")
        out.append(BounceRecipient(address=address, status=sm.group(1) if sm else status,
                                   action=(_field(block, "action") or "").lower() or None,
                                   diagnostic=_field(block, "diagnostic-code")))
    return out


def _field(block: Message, name: str) -> str | None:
    raw = raw_header(block, name)
    return collapse(repair(raw))[:1000] if raw is not None else None
