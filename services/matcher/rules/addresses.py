"""Addresses of an email by role, and the senders no rule may answer."""

from __future__ import annotations

from ...common.messages import Address, ParsedEmail
from ...common.sending import is_system_sender

__all__ = ["is_system_sender"]  # the sender re-checks with the same rule, so it lives in common


def senders(email: ParsedEmail) -> list[Address]:
    return list(email.from_)


def recipients(email: ParsedEmail) -> list[Address]:
    """The receivers reference 000 matches on: To, Cc and Bcc. Bcc shows only in the author's own
    copy (a Sent folder, a copy to self), and there it names whom the author wrote to, as To does.
    Delivered-To is not a receiver: the delivering server adds it for the mailbox the copy landed
    in (our own import account, or an alias forwarding to it), never an address the author chose;
    matched, it would link every email of a mailbox to whoever owns the mailbox's address."""
    return list(email.to) + list(email.cc) + list(email.bcc)


def by_role(email: ParsedEmail) -> list[tuple[str, str]]:
    """(role, address) for From then To/Cc/Bcc (``recipient``), each address once, lower-cased."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for role, group in (("sender", senders(email)), ("recipient", recipients(email))):
        for a in group:
            addr = a.address.strip().lower()
            if addr and addr not in seen:
                seen.add(addr)
                out.append((role, addr))
    return out


def host_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()


def first_sender(email: ParsedEmail) -> Address | None:
    return email.from_[0] if email.from_ else (email.sender[0] if email.sender else None)
