"""Deterministic identities: the same email, object or thread always gets the same id."""

from __future__ import annotations

import hashlib
import uuid

# Fixed forever: changing it would give every stored email a new id.
EMAIL_NAMESPACE = uuid.UUID("6f1d3f0e-5a8b-4c51-9a51-6d61696c7069")


def normalize_message_id(raw: str | None) -> str | None:
    """``<Foo@Example.COM>`` → ``Foo@example.com``: brackets and blanks stripped, domain lower-cased."""
    if not raw:
        return None
    value = raw.strip().strip("<>").strip()
    if not value:
        return None
    local, at, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}" if at else value


def email_id(message_id: str | None, fallback_parts: tuple[str, ...] = ()) -> uuid.UUID:
    """UUIDv5 of the normalised Message-ID; without one, of a digest of ``fallback_parts``
    (From, Date, Subject and the body, so the same message seen twice gets the same id)."""
    normalized = normalize_message_id(message_id)
    if normalized:
        return uuid.uuid5(EMAIL_NAMESPACE, "mid:" + normalized)
    digest = hashlib.sha256("\x00".join(fallback_parts).encode("utf-8", "surrogatepass")).hexdigest()
    return uuid.uuid5(EMAIL_NAMESPACE, "digest:" + digest)


def object_key(kind: str, sha256_hex: str) -> str:
    """Content-addressed S3 key: ``raw/sha256/ab/abcd…`` (kind is ``raw`` or ``att``)."""
    return f"{kind}/sha256/{sha256_hex[:2]}/{sha256_hex}"


# An index entry must stay under PostgreSQL's B-tree limit (2704 bytes) with the other columns of
# its key beside it; real Message-IDs and addresses are far shorter (RFC 5322 lines: 998 octets).
# Close to the limit on purpose: keys the tables held before the bound existed stay as they were.
KEY_MAX_BYTES = 2000


def bounded_key(value: str, max_bytes: int = KEY_MAX_BYTES) -> str:
    """``value`` when its UTF-8 fits ``max_bytes``, else ``sha256:<hex>`` of it: a key any index
    can hold, the same for the same value, so lookups by it still meet. Pure."""
    if len(value) * 4 <= max_bytes or len(value.encode("utf-8", "surrogatepass")) <= max_bytes:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
