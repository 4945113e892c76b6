"""Pure: the special-use role of each server folder (RFC 6154 flags first, then well-known names
in the languages CRM users write in), and the default selection offered after a check."""

from __future__ import annotations

from dataclasses import dataclass

from ..common.messages import FolderRole
from .accounts.model import Folder

SPECIAL_USE: dict[bytes, FolderRole] = {
    b"\\sent": "sent", b"\\drafts": "drafts", b"\\trash": "trash", b"\\junk": "junk", b"\\archive": "archive",
}
_WELL_KNOWN_NAMES: dict[FolderRole, list[str]] = {
    "sent": ["sent", "sent items", "sent mail", "sent messages", "sendt", "sendte elementer", "gesendet",
             "gesendete elemente", "envoyés", "posta inviata", "enviados", "[gmail]/sent mail"],
    "drafts": ["drafts", "draft", "kladder", "entwürfe", "brouillons", "bozze", "borradores", "[gmail]/drafts"],
    "trash": ["trash", "deleted items", "deleted messages", "bin", "papirkurv", "slettede elementer",
              "papierkorb", "corbeille", "cestino", "papelera", "[gmail]/trash", "[gmail]/bin"],
    "junk": ["junk", "junk e-mail", "junk email", "spam", "søppelpost", "uønsket e-post", "[gmail]/spam"],
    "archive": ["archive", "archives", "arkiv", "archiv", "[gmail]/all mail"],
}
WELL_KNOWN: dict[str, FolderRole] = {name: role for role, names in _WELL_KNOWN_NAMES.items() for name in names}


@dataclass(frozen=True)
class ServerFolder:
    """A folder as the server lists it."""

    name: str
    flags: tuple[bytes, ...] = ()
    delimiter: str = "/"

    @property
    def selectable(self) -> bool:
        return not any(f.lower() in (b"\\noselect", b"\\nonexistent") for f in self.flags)


def role_of(folder: ServerFolder) -> FolderRole | None:
    """The folder's role: INBOX, an RFC 6154 flag, else a well-known name (the last path segment,
    or the full name for Gmail's ``[Gmail]/..``)."""
    if folder.name.upper() == "INBOX":
        return "inbox"
    for flag in folder.flags:
        if (role := SPECIAL_USE.get(flag.lower())) is not None:
            return role
    full = folder.name.lower()
    leaf = full.rsplit(folder.delimiter, 1)[-1] if folder.delimiter else full
    return WELL_KNOWN.get(full) or WELL_KNOWN.get(leaf)


def selection(server: list[ServerFolder], chosen: list[str] | None = None,
              roles: dict[str, FolderRole] | None = None) -> list[Folder]:
    """The account's folders: the ``chosen`` names (default INBOX) marked for sync, each with its
    detected role unless ``roles`` overrides it. Raises ValueError for a name the server lacks."""
    by_name = {f.name: f for f in server if f.selectable}
    names = chosen or ["INBOX"]
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"no such folder on the server: {', '.join(missing)} (have: {', '.join(sorted(by_name))})")
    overrides = roles or {}
    return [Folder(name=n, role=overrides.get(n, role_of(by_name[n])), sync=True) for n in names]
