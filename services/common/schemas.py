"""Export the JSON Schema of every versioned message to ``schemas/jsonschema/``."""

from __future__ import annotations

import json
from pathlib import Path

from .messages import SCHEMAS
from .topics import SCHEMAS_DIR

JSONSCHEMA_DIR = SCHEMAS_DIR / "jsonschema"


def render(name: str) -> str:
    """The schema text for ``name`` (e.g. ``mail.parsed.v1``), as committed."""
    schema = SCHEMAS[name].model_json_schema(by_alias=True, mode="serialization")
    schema["$id"] = f"mailpipe/{name}.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export_all(directory: Path = JSONSCHEMA_DIR) -> list[Path]:
    """Write every schema file; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in SCHEMAS:
        path = directory / f"{name}.schema.json"
        path.write_text(render(name))
        paths.append(path)
    return paths
