"""Every topic's contract is data, and every example passes through the stage that consumes it.

``schemas/topics/*.yaml`` name, in a ``schemas:`` block, each message version's JSON Schema and
examples; this checks the block against the files and feeds each example through its consumer's
``handle()``: ``mail.raw`` through the parser (its outputs then through the matcher, whose outputs
then through storage, so the chain fetcher → parser → matcher → storage is checked end to end on
the examples), ``mail.parsed`` through the matcher (directory and mailboxes loaded from the
``crm.entities`` and ``mail.mailboxes`` examples by the matcher's own followers, state in memory),
``mail.matched`` through storage up to its database write. Storage's ``durable()`` (the write
itself) needs PostgreSQL and is covered by tests/integration; ``mail.autoreply``'s consumer, the
sender, is not in this repository, so its examples are only validated (test_schema_examples).
Pure: no backend.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import jsonschema
import pytest
import yaml
from mailpipe.common import rawrecord, schemas
from mailpipe.common.errors import PoisonMessage
from mailpipe.common.follower import MailboxFollower
from mailpipe.common.mailboxes import Mailboxes
from mailpipe.common.messages import MatchedEnvelope, ParsedEnvelope
from mailpipe.common.runtime.ports import Output, Record
from mailpipe.common.topics import AUTOREPLY, ENTITIES, MAILBOXES, MATCHED, PARSED, RAW, SCHEMAS_DIR, load_specs
from mailpipe.matcher.directory import EntityIndex
from mailpipe.matcher.follower import DirectoryFollower
from mailpipe.matcher.matching import Matcher
from mailpipe.matcher.stage import MatchStage
from mailpipe.parser.stage import ParseStage
from mailpipe.storage.stage import StoreStage

from tests.contract.examples import document, examples, invalid_examples, raw_objects, record

TOPIC_FILES = sorted((SCHEMAS_DIR / "topics").glob("*.yaml"))
# The topics a mailpipe stage consumes (the others' consumers live outside this repository).
CONSUMED = {RAW, PARSED, MATCHED, ENTITIES, MAILBOXES}
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def validate(name: str, value: bytes | None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(value or b"")
    jsonschema.validate(doc, json.loads((SCHEMAS_DIR / "jsonschema" / f"{name}.schema.json").read_text()))
    return doc


# --- the schemas: block ------------------------------------------------------------------------
@pytest.mark.parametrize("path", TOPIC_FILES, ids=lambda p: p.stem)
def test_topic_declares_its_schemas(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc.get("schemas"), list), f"{path.name}: no schemas: block"
    versions = [ref["version"] for ref in doc["schemas"]]
    assert len(versions) == len(set(versions)), f"{path.name}: a version listed twice"
    for ref in doc["schemas"]:
        schema, folder = SCHEMAS_DIR / ref["schema"], SCHEMAS_DIR / ref["examples"]
        assert schema.is_file(), f"{path.name}: {ref['schema']} missing"
        assert folder.is_dir() and any(folder.glob("*.json")), f"{path.name}: no examples in {ref['examples']}"
        assert schema.name == f"{folder.name}.schema.json", "the schema and its examples are of one version"
        assert folder.name.endswith(f".v{ref['version']}")
    if doc["topic"] in CONSUMED:
        assert doc["schemas"], f"{doc['topic']} is consumed by a stage: its messages need a schema"


def test_every_exported_schema_belongs_to_a_topic() -> None:
    declared = {ref.schema.name.removesuffix(".schema.json") for s in load_specs() for ref in s.schemas}
    assert declared == set(schemas.NAMES)
    assert {s.name for s in load_specs() if s.schemas} >= CONSUMED


# --- mail.raw through the parser ---------------------------------------------------------------
def parser(objects: dict[str, bytes], stored: dict[str, bytes]) -> ParseStage:
    return ParseStage(objects.__getitem__, stored.__setitem__)  # KeyError: the claim-check is gone


RAW_EXAMPLES = examples(rawrecord.NAME)


@pytest.mark.parametrize("path", RAW_EXAMPLES, ids=lambda p: p.stem)
def test_raw_example_is_parsed(path: Path) -> None:
    rec, head = record(path), document(path)["headers"]
    stored: dict[str, bytes] = {}
    [out] = parser(raw_objects(), stored).handle(rec)
    assert out.topic == PARSED and out.key == head["mailbox"].encode()
    parsed = ParsedEnvelope.model_validate(validate("mail.parsed.v1", out.value)).payload
    assert parsed.sighting.key.encode() == rec.key
    assert (parsed.sha256, parsed.raw_ref) == (head["sha256"], head.get("claim-check"))
    assert parsed.fetch_outcome == head.get("fetch-outcome", "full")
    assert parsed.internal_date == datetime.fromisoformat(head["internal-date"])
    assert (dict(out.headers).get("reindex-generation") or b"").decode() == head.get("reindex-generation", "")
    assert {a.object_key for a in parsed.attachments} <= set(stored)


def test_raw_examples_cover_each_kind_of_record() -> None:
    heads = [document(p)["headers"] for p in RAW_EXAMPLES]
    assert any("claim-check" not in h and "fetch-outcome" not in h for h in heads), "inline"
    assert any("claim-check" in h for h in heads), "claim-checked"
    assert any(h.get("fetch-outcome") == rawrecord.HEADERS_ONLY for h in heads), "headers-only"
    assert any("reindex-generation" in h for h in heads), "reindexed"


@pytest.mark.parametrize("path", invalid_examples(rawrecord.NAME), ids=lambda p: p.stem)
def test_invalid_raw_example_is_dead_lettered_with_its_reason(path: Path) -> None:
    with pytest.raises(PoisonMessage) as caught:
        parser(raw_objects(), {}).handle(record(path))
    assert caught.value.reason == path.stem
    with pytest.raises(jsonschema.ValidationError):  # the schema refuses what the parser refuses
        jsonschema.validate(document(path), schemas.schema(rawrecord.NAME))


def test_raw_examples_in_one_poll_batch_as_one_by_one() -> None:
    """The parser's batch path (overlapped GETs and PUTs) reads the same headers."""
    paths = RAW_EXAMPLES + invalid_examples(rawrecord.NAME)
    stage = parser(raw_objects(), {})
    try:
        outcomes = stage.handle_batch([record(p) for p in paths])
    finally:
        stage.close()
    for path, outcome in zip(paths, outcomes, strict=True):
        if path.parent.name == "invalid":
            assert isinstance(outcome, PoisonMessage) and outcome.reason == path.stem
        else:
            assert not isinstance(outcome, PoisonMessage)
            [batched], [alone] = outcome, parser(raw_objects(), {}).handle(record(path))
            assert _payload(batched) == _payload(alone) and _routing(batched) == _routing(alone)


def _payload(out: Output) -> Any:
    """The envelope's payload (its event id and time are fresh on each run)."""
    return json.loads(out.value or b"")["payload"]


def _routing(out: Output) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in out.headers if k != "event-id"]


def test_claim_check_gone_is_dead_lettered() -> None:
    [claimed] = [p for p in RAW_EXAMPLES if "claim-check" in document(p)["headers"]]
    with pytest.raises(PoisonMessage) as caught:
        parser({}, {}).handle(record(claimed))
    assert caught.value.reason == "claim_check_missing"


def test_record_round_trips_through_the_model() -> None:
    """What the fetcher writes (to_output) is what the parser reads (from_record)."""
    for path in RAW_EXAMPLES:
        rec = record(path)
        head = rawrecord.RawRecord.from_record(rec)
        out = head.to_output()
        assert (out.topic, out.key, out.value, out.headers) == (RAW, rec.key, rec.value, rec.headers)


# --- mail.parsed through the matcher, mail.matched through storage ---------------------------
class _NoTopic:
    """What a follower's consumer is asked at start, for a topic with nothing in it: the
    examples are applied one by one below, as the follower applies what it polls."""

    def partitions_for_topic(self, topic: str) -> None:
        return None

    def assign(self, parts: list[object]) -> None: ...
    def seek_to_beginning(self, *parts: object) -> None: ...
    def end_offsets(self, parts: list[object]) -> dict[object, int]:
        return {}


def loaded_followers() -> tuple[EntityIndex, Mailboxes]:
    """The directory and the mailboxes as the matcher's followers load them from the examples."""
    index, mailboxes = EntityIndex(), Mailboxes()
    directory, boxes = DirectoryFollower(_NoTopic(), index), MailboxFollower(_NoTopic(), mailboxes)
    for follower, name in ((directory, "crm.entity.v1"), (boxes, "mail.mailbox.v1")):
        for path in examples(name):
            follower._apply(b"", path.read_bytes())
    return index, mailboxes


def test_directory_and_mailbox_examples_are_loaded() -> None:
    index, mailboxes = loaded_followers()
    ids = {document(p)["payload"]["id"] for p in examples("crm.entity.v1")}
    held = set(index.companies) | set(index.persons) | set(index.tasks) | set(index.cases) | set(index.users)
    assert ids <= held | set(index.teams) | set(index.leads) | set(index.opportunities)
    assert set(mailboxes.configs) == {document(p)["payload"]["mailbox_id"] for p in examples("mail.mailbox.v1")}


def parsed_records() -> list[tuple[str, Record]]:
    """The mail.parsed examples, then what the parser made of the mail.raw examples."""
    out = [(p.stem, record(p)) for p in examples("mail.parsed.v1")]
    for path in RAW_EXAMPLES:
        [o] = parser(raw_objects(), {}).handle(record(path))
        out.append((f"raw/{path.stem}", _consumed(o)))
    return out


def _consumed(out: Output) -> Record:
    return Record(out.topic, 0, 0, out.key, out.value, out.headers)


def matcher() -> MatchStage:
    index, mailboxes = loaded_followers()
    return MatchStage(Matcher(index, mailboxes, clock=lambda: T0))  # MemoryState


def test_parsed_examples_are_matched() -> None:
    stage = matcher()
    for name, rec in parsed_records():
        outputs = stage.handle(rec)
        [matched] = [o for o in outputs if o.topic == MATCHED]
        envelope = MatchedEnvelope.model_validate(validate("mail.matched.v1", matched.value))
        assert envelope.payload.email == ParsedEnvelope.model_validate_json(rec.value or b"").payload, name
        for reply in (o for o in outputs if o.topic != MATCHED):
            assert reply.topic == AUTOREPLY
            validate("mail.autoreply.v1", reply.value)


def test_raw_example_of_a_task_is_linked_to_the_directory() -> None:
    """The examples fit together: the inline mail.raw example is linked by the matcher to the
    person, company and task of the crm.entities examples (so the chain does real work)."""
    [(_, rec)] = [(n, r) for n, r in parsed_records() if n == "raw/inline"]
    [matched] = [o for o in matcher().handle(rec) if o.topic == MATCHED]
    links = {(link.entity_type, link.entity_id) for link in MatchedEnvelope.model_validate_json(
        matched.value or b"").payload.links}
    assert {("person", "p1"), ("company", "acme"), ("task", "t1234")} <= links


def _no_database() -> NoReturn:
    raise AssertionError("storage's handle() must not touch PostgreSQL (its durable() does)")


def test_matched_examples_are_accepted_by_storage() -> None:
    _, mailboxes = loaded_followers()
    stage = StoreStage(_no_database, mailboxes, send_every_records=0)  # no early write: handle stays pure
    fed = [record(p) for p in examples("mail.matched.v1")]
    fed += [_consumed(o) for _, rec in parsed_records() for o in matcher().handle(rec) if o.topic == MATCHED]
    kept = 0
    for rec in fed:
        assert stage.handle(rec) == []  # storage produces nothing; it writes in durable()
        kept += not MatchedEnvelope.model_validate_json(rec.value or b"").payload.skipped
    assert len(stage._kept) == kept  # every record not skipped by the matcher waits for durable()
