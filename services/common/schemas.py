"""Export the JSON Schema of every versioned message to ``schemas/jsonschema/``: the envelope
models of ``messages.SCHEMAS`` and the ``mail.raw`` record of ``rawrecord``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import rawrecord
from .messages import SCHEMAS
from .topics import SCHEMAS_DIR

JSONSCHEMA_DIR = SCHEMAS_DIR / "jsonschema"

# Every exported schema's name (``<type>.v<version>``, the file's stem and the examples folder).
NAMES: tuple[str, ...] = (*SCHEMAS, rawrecord.NAME)


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``name`` (e.g. ``mail.parsed.v1``); KeyError for an unknown name."""
    if name == rawrecord.NAME:
        return rawrecord.json_schema()
    return SCHEMAS[name].model_json_schema(by_alias=True, mode="serialization")


def render(name: str) -> str:
    """The schema text for ``name``, as committed."""
    doc = schema(name)
    doc["$id"] = f"mailpipe/{name}.schema.json"
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def export_all(directory: Path = JSONSCHEMA_DIR) -> list[Path]:
    """Write every schema file; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in NAMES:
        path = directory / f"{name}.schema.json"
        path.write_text(render(name))
        paths.append(path)
    return paths
