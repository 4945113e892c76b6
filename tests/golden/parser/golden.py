"""How a golden .eml becomes the JSON compared with its expected file (shared by the test and
regenerate.py, so both see exactly the same thing)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from mailpipe.common.messages import Sighting
from mailpipe.common.rawrecord import RawRecord
from mailpipe.common.runtime.ports import Record
from mailpipe.common.topics import RAW
from mailpipe.parser.stage import ParseStage

HERE = Path(__file__).parent
INTERNAL_DATE = "2026-10-06T12:00:00+00:00"
HEADERS_ONLY_MARK = ".headers-only."  # e.g. headers-only.over-size-limit.eml → reason over_size_limit


def eml_files() -> list[Path]:
    """Every golden message, sorted."""
    return sorted(HERE.glob("*.eml"))


def expected_path(eml: Path) -> Path:
    return eml.with_suffix(".json")


def record_for(eml: Path) -> Record:
    """The ``mail.raw`` record the fetcher would publish for this file."""
    raw = eml.read_bytes()
    reason = None
    if eml.name.startswith("headers-only."):
        reason = eml.name.removeprefix("headers-only.").removesuffix(".eml").replace("-", "_")
    head = RawRecord(Sighting(mailbox_id="golden", folder="INBOX", uidvalidity=1, uid=1), len(raw),
                     hashlib.sha256(raw).hexdigest(), raw, datetime.fromisoformat(INTERNAL_DATE),
                     headers_only_reason=reason)
    return Record(RAW, 0, 0, eml.stem.encode(), raw, head.to_headers())


def golden_view(eml: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The parsed payload as JSON data (plus the keys of the objects stored), and the objects."""
    stored: dict[str, bytes] = {}
    parsed = ParseStage(lambda key: b"", stored.__setitem__).parse(record_for(eml))
    view = json.loads(parsed.model_dump_json(by_alias=True))
    view["stored_objects"] = sorted(stored)
    return view, stored


def render(view: dict[str, Any]) -> str:
    return json.dumps(view, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
