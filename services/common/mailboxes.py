"""The mailbox view: every mailbox's configuration by id, as published on ``mail.mailboxes``.

Matcher and storage both hold one, kept in step by ``follower.MailboxFollower``."""

from __future__ import annotations

from .messages import MailboxConfig


class Mailboxes:
    """The mailbox configurations by id, and every mailbox's own addresses (loop protection).
    Replaced whole on each change, so a reader always sees one consistent version."""

    def __init__(self, configs: dict[str, MailboxConfig] | None = None) -> None:
        self.configs: dict[str, MailboxConfig] = dict(configs or {})
        self.own_addresses: frozenset[str] = self._own(self.configs)

    @staticmethod
    def _own(configs: dict[str, MailboxConfig]) -> frozenset[str]:
        return frozenset(a.strip().lower() for c in configs.values() for a in c.own_addresses)

    def put(self, config: MailboxConfig) -> None:
        """Add or replace one mailbox's configuration (never blocks, never raises)."""
        configs = {**self.configs, config.mailbox_id: config}
        self.configs, self.own_addresses = configs, self._own(configs)

    def remove(self, mailbox_id: str) -> None:
        """Forget a mailbox (its tombstone on ``mail.mailboxes``); an unknown id is a no-op."""
        configs = {k: v for k, v in self.configs.items() if k != mailbox_id}
        self.configs, self.own_addresses = configs, self._own(configs)
