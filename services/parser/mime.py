"""Pure MIME parsing: bytes in, a ParsedEmail out. No Kafka, no S3 (attachment bytes go to the
``store`` function the caller passes in).

Semantics are the stdlib ``email`` package's with ``policy.default`` (see tree.py for how the tree
is built fast and headers.py for how header values are decoded); malformed-but-readable mail is
data: defects are recorded, not raised. PoisonMessage is raised only for bytes that are not mail
at all and for messages past a limit (limits.py).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.errors import ObsoleteHeaderDefect
from email.generator import BytesGenerator
from email.message import Message

from ..common.errors import PoisonMessage
from ..common.identity import email_id, object_key
from ..common.messages import Attachment, EmbeddedEmail, ParsedEmail, Sighting
from . import addresses, classify, headers
from .attachments import StoreObject, content_id, make_attachment, part_filename, store_nothing
from .bodies import BODY_CAP_CHARS, cap, decode_text, html_to_text
from .constants import DELIVERY_STATUS, EXTERNAL_BODY, FIELD_NAME_BYTES, MESSAGE_RFC822, TEXT_HTML, TEXT_PLAIN
from .cpython_email import raw_payload
from .limits import DEFAULT_LIMITS, Budget, ParseLimits, check_raw
from .recover import after_unix_from, obsolete_field_names
from .tnef import TnefUnreadable, is_tnef, unpack
from .tree import Tree, parse_tree, raw_header, walk

MAX_REFERENCES = 32
NOT_MAIL = "not_mail"
_LEADING_SPACE = re.compile(rb"[ \t\n\r\x0b\x0c]*")  # what bytes.strip() strips
_FIELD_NAME = re.compile(FIELD_NAME_BYTES + rb":")  # a field name, then a colon
# Warnings: what the parser worked around (a closed set; they become metric labels).
CHARSET_DETECTED = "charset_detected"
CHARSET_FALLBACK = "charset_fallback"
TNEF_UNREADABLE = "tnef_unreadable"
BODY_TRUNCATED = "body_truncated"
EXTERNAL_BODY_SKIPPED = "external_body"  # a message/external-body part: a reference, no content to store


@dataclass
class _Found:
    """What the walk over the tree collects."""

    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    embedded: list[EmbeddedEmail] = field(default_factory=list)
    warnings: set[str] = field(default_factory=set)
    tnef_body: str = ""


def parse_email(raw: bytes, sighting: Sighting, *, sha256: str, size: int | None = None,
                internal_date: datetime | None = None, raw_ref: str | None = None,
                store: StoreObject = store_nothing, limits: ParseLimits = DEFAULT_LIMITS,
                headers_only_reason: str | None = None, body_cap_chars: int = BODY_CAP_CHARS) -> ParsedEmail:
    """Parse one message. ``store(key, data)`` receives every attachment (and every body longer
    than the cap) under its content-addressed key. ``headers_only_reason`` marks a record whose
    value is only the header block (the fetcher did not download the body, e.g.
    ``over_size_limit``): the result has no body and no attachments. Raises PoisonMessage
    ("not_mail") when ``raw`` has no header at all, or with a limit's reason past a limit."""
    start = _LEADING_SPACE.match(raw).end()  # type: ignore[union-attr]  # (raw.lstrip() would copy raw)
    size = len(raw) if size is None else size
    repaired = obsolete_field_names(raw, start, limits.max_header_bytes)  # "Subject : x" (RFC 5322 §4.5)
    raw = raw if repaired is None else repaired
    # After an mbox envelope line (the stdlib's Unix-From line) the header fields start.
    if start == len(raw) or not _FIELD_NAME.match(raw, after_unix_from(raw, start)):
        raise PoisonMessage(NOT_MAIL, "no RFC 822 header found at the start of the message")
    check_raw(raw, limits)
    budget = Budget(limits)
    tree = parse_tree(raw, limits, headers_only=headers_only_reason is not None)
    msg = tree.root
    if repaired is not None:
        msg.defects.append(ObsoleteHeaderDefect("whitespace between a field name and its colon"))
    budget.check_time()
    found = _Found()
    if headers_only_reason is None:
        _collect(tree, budget, store, found)
    subject = headers.unstructured(msg, "Subject")
    senders = addresses.addresses(msg, "From")
    sender, reply_to = addresses.addresses(msg, "Sender"), addresses.addresses(msg, "Reply-To")
    to, cc, bcc = addresses.addresses(msg, "To"), addresses.addresses(msg, "Cc"), addresses.addresses(msg, "Bcc")
    found.warnings |= addresses.address_warnings([*senders, *sender, *reply_to, *to, *cc, *bcc])  # a spoofed name
    text, html = _bodies(found)
    text_body, text_cut = cap(text, body_cap_chars)
    html_body, html_cut = cap(html, body_cap_chars)
    header_date = headers.date(msg)
    mid = headers.message_id(msg)
    all_refs = headers.id_list(msg, "References")
    in_reply_to = headers.message_id(msg, "In-Reply-To")
    fallback = (",".join(a.address for a in senders), headers.collapse(raw_header(msg, "Date") or ""), subject, text)
    if text_cut or html_cut:
        found.warnings.add(BODY_TRUNCATED)
    reasons = classify.auto_submitted_reasons(msg)
    result = ParsedEmail(
        email_id=email_id(mid, fallback), message_id=mid, sighting=sighting, subject=subject,
        **{"from": senders}, sender=sender, reply_to=reply_to, to=to, cc=cc, bcc=bcc,
        delivered_to=addresses.addresses(msg, "Delivered-To"),
        date=header_date or internal_date,
        date_source="header" if header_date else "internal_date" if internal_date else "none",
        internal_date=internal_date, in_reply_to=in_reply_to, references=all_refs[-MAX_REFERENCES:],
        thread_root=(all_refs[0] if all_refs else None) or in_reply_to or mid,
        size_bytes=size, sha256=sha256, raw_ref=raw_ref,
        text_body=text_body, text_body_truncated=text_cut, text_body_ref=_keep(text, text_cut, store),
        html_body=html_body, html_body_truncated=html_cut, html_body_ref=_keep(html, html_cut, store),
        attachments=found.attachments, attachment_names=[a.filename for a in found.attachments],
        embedded_emails=found.embedded, auto_submitted=bool(reasons), auto_submitted_reasons=reasons,
        return_path=classify.return_path(msg), content_language=classify.content_language(msg),
        bounce=classify.bounce(msg, senders, text), task_token=classify.task_token(subject),
        fetch_outcome="headers_only" if headers_only_reason else "full", truncated_reason=headers_only_reason,
        defects=sorted({type(d).__name__ for p in walk(msg) for d in p.defects}),
        warnings=sorted(found.warnings),
    )
    budget.check_time()
    return result


def _keep(body: str, truncated: bool, store: StoreObject) -> str | None:
    """Store the whole body when the record carries only its head; return the key."""
    if not truncated:
        return None
    data = body.encode("utf-8")
    key = object_key("body", hashlib.sha256(data).hexdigest())
    store(key, data)
    return key


def _bodies(found: _Found) -> tuple[str, str]:
    html = "\n".join(found.htmls).strip()
    text = "\n".join(found.texts).strip()
    if not text:
        text = html_to_text(html) if html else found.tnef_body.strip()
    return text, html


def _collect(tree: Tree, budget: Budget, store: StoreObject, found: _Found) -> None:
    """Walk the tree (iteratively: hostile trees are deep) sorting leaves into bodies,
    attachments and attached emails. ``depth`` counts enclosing message/rfc822 parts."""
    stack: list[tuple[Message, int]] = [(tree.root, 0)]
    index = 0
    while stack:
        part, depth = stack.pop()
        budget.check_time()
        ctype = part.get_content_type()
        if ctype == EXTERNAL_BODY:  # RFC 2046 §5.2.3: only where the content is; nothing to store
            found.warnings.add(EXTERNAL_BODY_SKIPPED)
            continue
        payload = raw_payload(part)  # get_payload() would re-decode 8-bit leaves just to return them
        if isinstance(payload, list):
            children = [p for p in payload if isinstance(p, Message)]
            if ctype == MESSAGE_RFC822 and children:
                index += 1
                _embedded(tree, part, children[0], depth, index, budget, store, found)
                stack.append((children[0], depth + 1))
            elif ctype != DELIVERY_STATUS:  # its field blocks are read by classify
                stack.extend((c, depth) for c in reversed(children))
            continue
        index += 1
        if part.get_content_maintype() == "multipart":
            ctype = TEXT_PLAIN  # a multipart whose boundary never came: its text is all there is
        _leaf(tree, part, ctype, depth, index, budget, store, found)


def _leaf(tree: Tree, part: Message, ctype: str, depth: int, index: int, budget: Budget, store: StoreObject,
          found: _Found) -> None:
    disposition = (part.get_content_disposition() or "").lower()
    filename = part_filename(part)
    is_body = ctype in (TEXT_PLAIN, TEXT_HTML) and disposition != "attachment"
    if is_body and depth == 0:
        data = tree.decoded(part, budget)
        decoded = decode_text(data, _charset(part))
        if decoded.how != "declared" and decoded.text:
            found.warnings.add(CHARSET_FALLBACK if decoded.how == "fallback" else CHARSET_DETECTED)
        (found.texts if ctype == TEXT_PLAIN else found.htmls).append(decoded.text)
        if not filename:
            return
        # A named inline text part (Apple Mail sends attached .txt files so) is shown in place,
        # as RFC 2183 and mail clients do, and is still the file it was sent as.
        found.attachments.append(make_attachment(data, filename=filename, content_type=ctype, index=index,
                                                 store=store, inline=True,
                                                 cid=content_id(raw_header(part, "content-id")), depth=depth))
        return
    if is_body and not filename:
        return  # the body of an attached email: part of that email's .eml, not a file of its own
    data = tree.decoded(part, budget)
    if is_tnef(ctype, filename, data):
        try:
            files, body = unpack(data, budget.limits.max_tnef_objects)
        except TnefUnreadable:
            files, body = [], ""
        files = [f for f in files if f.data or f.name]  # damage leaves nameless empty husks
        if not files and not body:
            found.warnings.add(TNEF_UNREADABLE)  # kept packed, as the attachment it came as
        else:
            for n, f in enumerate(files, 1):
                found.attachments.append(make_attachment(
                    f.data, filename=f.name, content_type=_guess_type(f.name), index=index * 1000 + n,
                    store=store, origin="tnef", depth=depth))
            if depth == 0 and body and not found.tnef_body:
                found.tnef_body = body
            return
    cid = content_id(raw_header(part, "content-id"))
    inline = disposition == "inline" or (not disposition and cid is not None)
    found.attachments.append(make_attachment(data, filename=filename, content_type=ctype, index=index,
                                             store=store, inline=inline, cid=cid, depth=depth))


def _embedded(tree: Tree, part: Message, inner: Message, depth: int, index: int, budget: Budget,
              store: StoreObject, found: _Found) -> None:
    """An attached email: its summary, and its bytes (re-serialised from the tree) as a file."""
    subject = headers.unstructured(inner, "Subject")
    found.embedded.append(EmbeddedEmail(message_id=headers.message_id(inner), subject=subject,
                                        **{"from": addresses.addresses(inner, "From")}, date=headers.date(inner),
                                        depth=depth + 1))
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=policy.compat32.clone(linesep="\r\n")).flatten(inner)
    data = tree.restore(out.getvalue())
    budget.spend(len(data))
    name = part_filename(part) or (f"{subject[:150]}.eml" if subject else None)
    found.attachments.append(make_attachment(data, filename=name, content_type=MESSAGE_RFC822, index=index,
                                             store=store, inline=False, cid=content_id(raw_header(part, "content-id")),
                                             depth=depth))


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # a malformed RFC 2231 charset parameter: treat as undeclared
        return None


def _guess_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
