"""The base of every message model, and the small types several topics share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Address(Model):
    """One mailbox of an address header, the address lower-cased."""

    name: str = ""
    address: str


# A folder's special-use role (RFC 6154, or set by the operator): sent mail is outgoing (reference
# 003/004's folder functions).
FolderRole = Literal["inbox", "sent", "drafts", "trash", "junk", "archive"]


EntityType = Literal["person", "company", "task", "case", "lead", "opportunity", "user", "team"]
