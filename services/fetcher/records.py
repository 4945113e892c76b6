"""Pure: how a fetched message becomes a ``mail.raw`` record."""

from __future__ import annotations

import hashlib
from datetime import datetime

from ..common.messages import Sighting
from ..common.runtime.ports import Output
from ..common.topics import RAW


def raw_record(sighting: Sighting, raw: bytes, size: int, internal_date: datetime | None,
               claim_check_key: str | None = None) -> Output:
    """The record for one message. Keyed per message (not per mailbox) so one mailbox's backfill
    spreads over every partition. With ``claim_check_key`` the body is in S3 and the value empty."""
    headers = [
        ("mailbox", sighting.mailbox_id.encode()),
        ("folder", sighting.folder.encode()),
        ("uidvalidity", str(sighting.uidvalidity).encode()),
        ("uid", str(sighting.uid).encode()),
        ("size", str(size).encode()),
        ("sha256", hashlib.sha256(raw).hexdigest().encode()),
    ]
    if internal_date is not None:
        headers.append(("internal-date", internal_date.isoformat().encode()))
    if claim_check_key:
        headers.append(("claim-check", claim_check_key.encode()))
    return Output(RAW, sighting.key.encode(), b"" if claim_check_key else raw, headers)
