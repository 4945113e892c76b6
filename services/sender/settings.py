"""The sender's settings: ``MAILPIPE_SENDER__*`` plus the shared sections."""

from __future__ import annotations

from pydantic import Field

from ..common.secretbox import SecretsSettings
from ..common.settings import PostgresSettings, Section, ServiceSettings
from ..common.topics import AUTOREPLY, OUTBOUND


class SenderOptions(Section):
    timeout_seconds: float = Field(30.0, gt=0, description="per SMTP step up to AUTH (connect, EHLO, STARTTLS)")
    data_timeout_seconds: float = Field(600.0, gt=0, description="per reply of the mail transaction, the one to "
                                        "the final '.' included (RFC 5321 §4.5.3.2: up to 10 minutes)")
    lease_seconds: float = Field(60.0, ge=10, description="the least time a message being sent is another "
                                 "sender's to send again; each send's lease also outlasts its longest time "
                                 "(lease_for)")
    retry_interval_seconds: float = Field(15.0, gt=0, description="how often deferred and held mail is looked at")
    backoff_base_seconds: float = Field(60.0, gt=0, description="first wait after a 4xx or a connection failure")
    backoff_max_seconds: float = Field(3600.0, gt=0)
    give_up_after_hours: float = Field(120.0, gt=0, description="deferred mail older than this is refused and "
                                       "dead-lettered (Postfix's maximal_queue_lifetime is 5 days too)")
    autoreply_max_per_window: int = Field(5, ge=1, description="autoresponses per recipient per mailbox per window "
                                          "(the matcher's limit, checked again on what was really sent)")
    autoreply_window_seconds: float = Field(7200.0, gt=0)
    central_signature_text: str = Field("", description="the central signature (reference 003), for mailboxes "
                                        "whose sending.signature is central")
    central_signature_html: str | None = None
    autoreply_topic: str = AUTOREPLY
    outbound_topic: str = OUTBOUND


    def lease_for(self, recipients: int) -> float:
        """How long a send of a message to ``recipients`` holds its row: longer than the send can
        take (connect, EHLO, STARTTLS, EHLO and AUTH at ``timeout_seconds`` each; the replies to
        MAIL, every RCPT, DATA and the final '.' at ``data_timeout_seconds`` each), so a slow send
        is never taken for a dead one and sent again; never less than ``lease_seconds``."""
        return max(self.lease_seconds, 5 * self.timeout_seconds + (3 + recipients) * self.data_timeout_seconds)


class SenderSettings(ServiceSettings):
    postgres: PostgresSettings
    secrets: SecretsSettings
    sender: SenderOptions = SenderOptions()
