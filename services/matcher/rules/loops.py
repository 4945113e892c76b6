"""Loop protection: mail no autoresponse answers and no case is opened for, and the rate limits.

Never answered and never a case: automatic mail (Auto-Submitted, X-Autoreply, ...), bounces, bulk
or list mail (Precedence bulk/list/junk, List-Unsubscribe), mailer-daemon / postmaster / no-reply
senders, mail from mailpipe's own mailboxes, and outgoing mail (seen in a sent-role folder). At
most ``MAX_AUTOREPLIES`` per sender address per window; a sender opening more than ``MAX_CASES``
cases per window is held."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from ...common.messages import ParsedEmail
from .addresses import is_system_sender

WINDOW = timedelta(hours=2)
MAX_AUTOREPLIES = 5
MAX_CASES = 20
_BULK = ("precedence:bulk", "precedence:list", "precedence:junk", "list-unsubscribe")


def loop_reason(email: ParsedEmail, sender: str | None, own_addresses: Collection[str],
                outgoing: bool = False) -> str | None:
    """Why this email must get neither an autoresponse nor a case, or None."""
    if outgoing:  # the mailbox's user wrote it: nobody to answer, no request to open a case for
        return "sent_folder"
    if email.bounce is not None:
        return "bounce"
    if any(r in _BULK for r in email.auto_submitted_reasons):
        return "bulk_or_list"
    if email.auto_submitted:
        return "auto_submitted"
    if sender is None:
        return "no_sender"
    if is_system_sender(sender):
        return "system_sender"
    if sender in own_addresses:
        return "own_mailbox"
    return None


def autoreply_limited(sent_in_window: int) -> bool:
    return sent_in_window >= MAX_AUTOREPLIES


def case_flood(opened_in_window: int) -> bool:
    """True when one more case would exceed the limit."""
    return opened_in_window >= MAX_CASES
