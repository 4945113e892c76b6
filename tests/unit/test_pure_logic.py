"""Pure logic: identities, MIME parsing, matching rules, settings, topic specs, schema drift."""

from __future__ import annotations

import uuid

import pytest
from mailpipe.common import schemas, settings
from mailpipe.common.errors import ConfigError, DeadLetterRatioExceeded, PoisonMessage
from mailpipe.common.identity import email_id, normalize_message_id, object_key
from mailpipe.common.messages import SCHEMAS, Address, Entity, ParsedEmail, Sighting
from mailpipe.common.runtime.dlq import DeadLetterGuard
from mailpipe.common.topics import load_specs
from mailpipe.devtools import mailgen
from mailpipe.matcher.directory import EntityIndex
from mailpipe.matcher.rules import person_links
from mailpipe.parser.mime import parse_email

SIGHTING = Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1)


def test_message_id_normalisation_and_email_id() -> None:
    assert normalize_message_id(" <Abc.Def@Example.COM> ") == "Abc.Def@example.com"
    assert email_id("<Abc.Def@Example.COM>") == email_id("Abc.Def@example.com")
    assert email_id("<abc.def@example.com>") != email_id("<ABC.def@example.com>")  # local part is case-sensitive
    no_id = email_id(None, ("a@x", "Mon", "hi", "body"))
    assert no_id == email_id("", ("a@x", "Mon", "hi", "body")) != email_id(None, ("a@x", "Mon", "hi", "other"))
    assert isinstance(no_id, uuid.UUID)
    assert object_key("att", "ab" + "0" * 62) == "att/sha256/ab/ab" + "0" * 62


def test_parse_encoded_headers_addresses_and_reply_headers() -> None:
    raw = (b"Message-ID: <X1@Mail.Example>\r\nFrom: =?utf-8?q?J=C3=B8rgen?= <Jorgen@Acme.Example>\r\n"
           b"To: a@b.example, \"C, D\" <cd@b.example>\r\nSubject: =?utf-8?b?R3LDvMOfZQ==?= [Task#12]\r\n"
           b"In-Reply-To: <parent@mail.example>\r\nReferences: <root@mail.example> <parent@mail.example>\r\n"
           b"Date: Mon, 5 Oct 2026 10:00:00 +0200\r\n\r\nHello\r\n")
    p = parse_email(raw, SIGHTING, sha256="0" * 64)
    assert p.message_id == "X1@mail.example"
    assert p.email_id == email_id("X1@mail.example")
    assert p.subject == "Grüße [Task#12]"
    assert p.from_ == [Address(name="Jørgen", address="jorgen@acme.example")]
    assert [a.address for a in p.to] == ["a@b.example", "cd@b.example"]
    assert p.in_reply_to == "parent@mail.example"
    assert p.references == ["root@mail.example", "parent@mail.example"]
    assert p.text_body == "Hello" and p.size_bytes == len(raw)


def test_parse_unknown_charset_is_data_not_a_crash() -> None:
    raw = (b"From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
           b"caf\xe9\r\n")
    p = parse_email(raw, SIGHTING, sha256="0" * 64)
    assert p.text_body.startswith("caf") and p.message_id is None


def test_parse_rejects_bytes_that_are_not_mail() -> None:
    for junk in (b"", b"   \r\n", b"\x00\x01\x02 binary", b"just a sentence without a header"):
        with pytest.raises(PoisonMessage) as info:
            parse_email(junk, SIGHTING, sha256="0" * 64)
        assert info.value.reason == "not_mail"


def test_every_demo_email_parses_with_its_message_id() -> None:
    for g in mailgen.corpus(40):
        p = parse_email(g.raw, SIGHTING, sha256="0" * 64)
        assert p.message_id == g.message_id.strip("<>")
        assert p.from_[0].address == g.sender


def _email(sender: str, *to: str) -> ParsedEmail:
    return ParsedEmail(email_id=uuid.uuid4(), message_id=None, sighting=SIGHTING, size_bytes=1, sha256="0",
                       **{"from": [Address(address=sender)]}, to=[Address(address=a) for a in to])


def test_person_links_by_exact_address_and_tombstones() -> None:
    index = EntityIndex()
    index.upsert(Entity(type="person", id="p1", emails=["Alice@Acme.example"]))
    index.upsert(Entity(type="person", id="p2", emails=["bob@acme.example"]))
    index.upsert(Entity(type="company", id="c1", emails=["alice@acme.example"]))
    links = person_links(_email("alice@acme.example", "bob@acme.example", "x@y.example"), index)
    assert [(lk.entity_id, lk.reason) for lk in links] == [("p1", "sender"), ("p2", "recipient")]
    index.upsert(Entity(type="person", id="p1", emails=["alice@new.example"]))  # address changed
    assert person_links(_email("alice@acme.example"), index) == []
    index.delete("person:p2")
    assert person_links(_email("z@z.example", "bob@acme.example"), index) == []
    assert person_links(_email("alice@acme.example.evil"), index) == []


def test_bad_configuration_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("MAILPIPE_ENV_FILE", "/nonexistent")
    monkeypatch.setenv("MAILPIPE_RUNTIME__BATCH_MAX_RECORDS", "-3")
    with pytest.raises(ConfigError) as info:
        settings.load(settings.ServiceSettings)
    text = str(info.value)
    assert "MAILPIPE_KAFKA__BOOTSTRAP_SERVERS" in text and "MAILPIPE_RUNTIME__BATCH_MAX_RECORDS" in text


def test_secrets_are_masked_in_the_logged_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from mailpipe.storage.settings import StorageSettings

    monkeypatch.setenv("MAILPIPE_ENV_FILE", "/nonexistent")
    monkeypatch.setenv("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("MAILPIPE_POSTGRES__DSN", "postgresql://u:hunter2@h/db")
    dumped = str(settings.masked(settings.load(StorageSettings)))
    assert "hunter2" not in dumped and "**********" in dumped


def test_dead_letter_guard() -> None:
    guard = DeadLetterGuard(window=10, min_records=4, max_ratio=0.5)
    for poisoned in (False, True, False, True, False, True):
        guard.observe(poisoned)  # exactly half: allowed
    with pytest.raises(DeadLetterRatioExceeded):
        guard.observe(True)


def test_dead_letter_guard_counts_a_late_refusal_once() -> None:
    """A record handled, then refused when the stage made its writes durable, is one poisoned
    record, not one handled plus one poisoned (which would halve its weight in the ratio)."""
    guard = DeadLetterGuard(window=10, min_records=4, max_ratio=0.5)
    for _ in range(4):
        guard.observe(False)
    guard.poisoned_after_all()
    guard.poisoned_after_all()  # 2 of 4 records: allowed (counted twice it would be 2 of 6)
    with pytest.raises(DeadLetterRatioExceeded):
        guard.poisoned_after_all()  # 3 of 4 (counted twice: 3 of 7, under the limit)


def test_topic_specs_include_dead_letter_topics() -> None:
    names = {s.name: s for s in load_specs()}
    assert {"mail.raw", "mail.raw.dlq", "mail.parsed", "mail.matched", "crm.entities"} <= set(names)
    assert names["crm.entities"].config["cleanup.policy"] == "compact"
    assert "crm.entities.dlq" not in names and names["mail.raw.dlq"].config["cleanup.policy"] == "delete"


def test_committed_json_schemas_match_the_models() -> None:
    for name in SCHEMAS:
        path = schemas.JSONSCHEMA_DIR / f"{name}.schema.json"
        assert path.exists(), f"{path} missing: run `make schemas`"
        assert path.read_text() == schemas.render(name), f"{path} drifted from the model: run `make schemas`"


def test_guard_blocks_undeclared_backends() -> None:
    from mailpipe.common import clients
    from mailpipe.common.settings import KafkaSettings

    from tests.conftest import BackendNotDeclared

    with pytest.raises(BackendNotDeclared, match="mark.kafka"):
        clients.make_producer(KafkaSettings(bootstrap_servers="127.0.0.1:1"))
