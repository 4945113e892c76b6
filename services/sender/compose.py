"""Pure: the message the sender puts on the wire, from a request and the mailbox's setup.

Every message has a Message-ID derived from its outbound id, so a resend (after a crash between
the server's acceptance and the ledger's record of it) carries the same id and readers can tell
the copies are one message. Autoresponses follow RFC 3834 §3: ``Auto-Submitted: auto-replied``,
``In-Reply-To`` and ``References`` to the original, and the null reverse-path, so that a bounce
of a response is never answered by anyone.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP as _SMTP
from email.utils import format_datetime

from ..common.messages import Address, Autoreply, OutboundMail

# Bodies go as quoted-printable or base64, never raw 8-bit: smtplib.sendmail does not announce
# BODY=8BITMIME, and a server without it may mangle 8-bit lines.
SMTP = _SMTP.clone(cte_type="7bit")
_NAMESPACE = uuid.UUID("5b7f2e1c-6a1d-4c8e-9b0f-3d2a7c4e8f15")  # never change: ids must stay the same


@dataclass(frozen=True)
class Signature:
    text: str
    html: str | None = None


@dataclass(frozen=True)
class Composed:
    """What to send: the exact bytes, the envelope, and what the ledger keys on."""

    message: bytes
    message_id: str
    envelope_from: str  # '' is the null reverse-path
    recipients: list[str]

    @property
    def recipient(self) -> str:
        """The first recipient, lower-cased: the rate limits count by it."""
        return self.recipients[0].lower()


def autoreply_id(email_id: uuid.UUID) -> uuid.UUID:
    """The outbound id of the autoresponse to ``email_id``: one per email, whatever replays it."""
    return uuid.uuid5(_NAMESPACE, f"autoreply:{email_id}")


def message_id(outbound_id: uuid.UUID, from_address: str) -> str:
    domain = from_address.rpartition("@")[2].strip().lower() or "mailpipe.invalid"
    return f"<mailpipe.{outbound_id.hex}@{domain}>"


def compose_autoreply(reply: Autoreply, outbound_id: uuid.UUID, from_address: str, from_name: str,
                      now: datetime) -> Composed:
    """The autoresponse or out-of-office notice for ``reply``, from ``from_address``."""
    msg = _headers(outbound_id, from_address, from_name, [reply.to], [], reply.subject, now)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange and Outlook answer nothing to it either
    _thread(msg, reply.in_reply_to, reply.references)
    if reply.language:
        msg["Content-Language"] = reply.language
    if reply.format == "html":
        msg.set_content(_text_of_html(reply.body))
        msg.add_alternative(reply.body, subtype="html")
    else:
        msg.set_content(reply.body)
    return Composed(msg.as_bytes(policy=SMTP), msg["Message-ID"], "", [reply.to.address])


def compose_outbound(mail: OutboundMail, from_address: str, from_name: str, reply_to: str | None,
                     signature: Signature | None, now: datetime, on_behalf_of: str | None = None) -> Composed:
    """The CRM's mail: its own content plus the signature, and the group address as Reply-To when
    it answers a case (reference 001). Bcc recipients are in the envelope only. ``on_behalf_of``:
    the address of the account whose server sends it (the default outbound account), which
    becomes the Sender header and the envelope sender."""
    msg = _headers(mail.outbound_id, from_address, from_name, mail.to, mail.cc, mail.subject, now)
    if on_behalf_of:
        msg["Sender"] = on_behalf_of
    if reply_to:
        msg["Reply-To"] = reply_to
    _thread(msg, mail.in_reply_to, mail.references)
    text = mail.text_body or _text_of_html(mail.html_body or "")
    if signature is not None and signature.text:
        text = f"{text.rstrip()}\n\n-- \n{signature.text}"  # RFC 3676 §4.3: the signature separator
    msg.set_content(text)
    if mail.html_body is not None:
        body = mail.html_body
        if signature is not None and (signature.html or signature.text):
            sig = signature.html or html.escape(signature.text).replace("\n", "<br>")
            body = f'{body}\n<div class="signature">-- <br>{sig}</div>'
        msg.add_alternative(body, subtype="html")
    recipients = [a.address for a in [*mail.to, *mail.cc, *mail.bcc]]
    return Composed(msg.as_bytes(policy=SMTP), msg["Message-ID"], on_behalf_of or from_address,
                    list(dict.fromkeys(recipients)))


def _headers(outbound_id: uuid.UUID, from_address: str, from_name: str, to: list[Address], cc: list[Address],
             subject: str, now: datetime) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = _address(from_name, from_address)
    msg["To"] = [_address(a.name, a.address) for a in to]
    if cc:
        msg["Cc"] = [_address(a.name, a.address) for a in cc]
    msg["Subject"] = " ".join(subject.split())  # a folded or multi-line subject from a template
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(outbound_id, from_address)
    return msg


def _address(name: str, address: str) -> HeaderAddress:
    return HeaderAddress(display_name=name or "", addr_spec=address)


def _thread(msg: EmailMessage, in_reply_to: str | None, references: list[str]) -> None:
    if in_reply_to:
        msg["In-Reply-To"] = _angle(in_reply_to)
    refs = [_angle(r) for r in references]
    if refs:
        msg["References"] = " ".join(dict.fromkeys(refs))


def _angle(message_id: str) -> str:
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def _text_of_html(body: str) -> str:
    """A plain alternative: tags dropped, entities decoded. Linear in the body (one pass each)."""
    out, inside = [], False
    for ch in body.replace("<br>", "\n").replace("</p>", "\n\n"):
        if ch == "<":
            inside = True
        elif ch == ">":
            inside = False
        elif not inside:
            out.append(ch)
    return html.unescape("".join(out)).strip() + "\n"
