"""The committed examples of ``schemas/examples/<name>/`` as the records a consumer would read.

Envelope topics: each ``*.json`` is the record's value. ``mail.raw``: each ``*.json`` is the
record in JSON form (see docs/contracts.md): ``key``, ``headers`` (the Kafka record headers, as
strings) and ``value_eml`` (the .eml file, relative to the example, holding the value; absent for
an empty value). ``invalid/<reason>.json`` beside them are deliberately broken records: they fail
the schema and the consumer dead-letters them with ``<reason>``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mailpipe.common import rawrecord
from mailpipe.common.identity import object_key
from mailpipe.common.runtime.ports import Record
from mailpipe.common.topics import SCHEMAS_DIR, load_specs

EXAMPLES_DIR = SCHEMAS_DIR / "examples"


def examples(name: str) -> list[Path]:
    """The valid examples of schema ``name`` (e.g. ``mail.raw.v1``), sorted."""
    return sorted((EXAMPLES_DIR / name).glob("*.json"))


def invalid_examples(name: str) -> list[Path]:
    """The deliberately broken examples of ``name``; each file's stem is the dead-letter reason."""
    return sorted((EXAMPLES_DIR / name / "invalid").glob("*.json"))


def topic_of(name: str) -> str:
    """The topic whose yaml lists schema ``name`` in its ``schemas:`` block."""
    for spec in load_specs():
        if any(ref.examples.name == name for ref in spec.schemas):
            return str(spec.name)
    raise KeyError(name)


def document(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def record(path: Path) -> Record:
    """The record the example stands for, on the topic that carries it."""
    doc = document(path)
    name = path.parent.name if path.parent.name != "invalid" else path.parent.parent.name
    if name != rawrecord.NAME:
        return Record(topic_of(name), 0, 0, None, path.read_bytes(), [])
    value = (path.parent / doc["value_eml"]).read_bytes() if "value_eml" in doc else b""
    headers = [(k, v.encode()) for k, v in doc["headers"].items()]
    return Record(topic_of(name), 0, 0, doc["key"].encode(), value, headers)


def raw_objects() -> dict[str, bytes]:
    """What S3 holds for the ``mail.raw`` examples: every .eml of the folder under its content
    key, so a claim-check header names one of them."""
    emls = (EXAMPLES_DIR / rawrecord.NAME).glob("*.eml")
    return {object_key("raw", hashlib.sha256(data).hexdigest()): data for data in (p.read_bytes() for p in emls)}
