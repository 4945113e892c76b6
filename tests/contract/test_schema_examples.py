"""Every committed example validates against its JSON Schema and is read by its consumer model."""

from __future__ import annotations

import json

import jsonschema
import pytest
from mailpipe.common.messages import SCHEMAS
from mailpipe.common.topics import SCHEMAS_DIR

EXAMPLES = sorted((SCHEMAS_DIR / "examples").glob("*/*.json"))


def test_every_schema_has_an_example() -> None:
    assert {p.parent.name for p in EXAMPLES} == set(SCHEMAS)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_validates_and_parses(path) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(path.read_text())
    schema = json.loads((SCHEMAS_DIR / "jsonschema" / f"{path.parent.name}.schema.json").read_text())
    jsonschema.validate(doc, schema)
    model = SCHEMAS[path.parent.name].model_validate(doc)
    assert model.type == doc["type"]
