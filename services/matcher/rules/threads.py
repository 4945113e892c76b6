"""Thread rule: an email whose In-Reply-To or References name an email already matched inherits
that email's case, task and lead links, whichever mailbox either arrived at (DESIGN §3: a thread is
identified by its root, the first of References, else In-Reply-To, else the own Message-ID)."""

from __future__ import annotations

from collections.abc import Iterable

from ...common.identity import normalize_message_id
from ...common.messages import Link, ParsedEmail

INHERITED = ("case", "task", "lead")


def norm_message_id(value: str) -> str:
    """A thread key: the normalised Message-ID (common.identity), case-folded whole (a looser match
    than the id, as the thread index has always keyed it, so stored keys stay valid)."""
    return (normalize_message_id(value) or "").lower()


def thread_root(email: ParsedEmail) -> str:
    """The thread's root Message-ID; an email without any falls back to its email id."""
    root = email.thread_root or (email.references[0] if email.references else None) or email.in_reply_to \
        or email.message_id
    return norm_message_id(root) if root else f"email:{email.email_id}"


def thread_keys(email: ParsedEmail) -> list[str]:
    """Every Message-ID that ties the email to a thread: the root, In-Reply-To and References."""
    keys = [thread_root(email)]
    for value in [email.in_reply_to, *email.references]:
        if value and (k := norm_message_id(value)) not in keys:
            keys.append(k)
    return keys


def index_keys(email: ParsedEmail) -> list[str]:
    """The keys under which the email's own links are recorded: its Message-ID and its root."""
    keys = [thread_root(email)]
    if email.message_id and (k := norm_message_id(email.message_id)) not in keys:
        keys.append(k)
    return keys


def inherited_links(found: Iterable[Link]) -> list[Link]:
    """The case, task and lead links of earlier emails of the thread, each once, reason ``thread``."""
    out: dict[tuple[str, str], Link] = {}
    for lk in found:
        if lk.entity_type in INHERITED:
            out.setdefault((lk.entity_type, lk.entity_id),
                           Link(entity_type=lk.entity_type, entity_id=lk.entity_id, reason="thread"))
    return sorted(out.values(), key=lambda lk: (lk.entity_type, lk.entity_id))
