"""Every committed example validates against its JSON Schema and is read by its consumer model;
every committed schema is what its model exports (``make schemas``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
from mailpipe.common import rawrecord, schemas
from mailpipe.common.identity import object_key
from mailpipe.common.messages import SCHEMAS, encode
from mailpipe.common.topics import SCHEMAS_DIR

from tests.contract.examples import raw_objects, record

EXAMPLES = sorted((SCHEMAS_DIR / "examples").glob("*/*.json"))


def test_every_schema_has_an_example() -> None:
    assert {p.parent.name for p in EXAMPLES} == set(schemas.NAMES)


@pytest.mark.parametrize("name", schemas.NAMES)
def test_committed_schema_is_the_export(name: str) -> None:
    path = schemas.JSONSCHEMA_DIR / f"{name}.schema.json"
    assert path.exists() and path.read_text() == schemas.render(name), f"{path} drifted: run `make schemas`"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_validates_and_parses(path: Path) -> None:
    doc = json.loads(path.read_text())
    schema = json.loads((SCHEMAS_DIR / "jsonschema" / f"{path.parent.name}.schema.json").read_text())
    jsonschema.validate(doc, schema)
    if path.parent.name == rawrecord.NAME:
        head = rawrecord.RawRecord.from_record(record(path))
        assert head.sighting.key == doc["key"]
        return
    model = SCHEMAS[path.parent.name].model_validate(doc)
    assert model.type == doc["type"]
    # what a producer sends: the JSON model_dump_json documents, byte for byte, and it reads back
    assert encode(model) == model.model_dump_json(by_alias=True).encode()
    assert type(model).model_validate_json(encode(model)) == model


@pytest.mark.parametrize("path", sorted((SCHEMAS_DIR / "examples" / rawrecord.NAME).glob("*.json")),
                         ids=lambda p: p.stem)
def test_raw_example_sha256_is_of_its_bytes(path: Path) -> None:
    """The sha256 header is of the bytes fetched: the value, or the claim-checked object."""
    head = rawrecord.RawRecord.from_record(record(path))
    if head.claim_check:
        assert head.value == b"" and head.claim_check == object_key("raw", head.sha256)
        data = raw_objects()[head.claim_check]
    else:
        data = head.value
    assert hashlib.sha256(data).hexdigest() == head.sha256, f"{path.name}: update sha256 (and size) to the .eml"
