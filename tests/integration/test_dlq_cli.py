"""``mailpipe dlq list|show|replay`` against the real Kafka (and PostgreSQL for the end-to-end
replay): dead letters made by the runtime's own dead_letter(), a unique source topic and its .dlq."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from mailpipe.cli import main
from mailpipe.common.errors import PoisonMessage
from mailpipe.common.messages import MatchedEmail, MatchedEnvelope, encode
from mailpipe.common.runtime.dlq import dead_letter
from mailpipe.common.runtime.loop import StageRunner
from mailpipe.common.runtime.ports import Output, Record
from mailpipe.common.settings import RuntimeSettings
from mailpipe.common.topics import dlq
from mailpipe.storage.stage import StoreStage

from tests.conftest import stack_env
from tests.integration.test_storage_store import T0, dump, parsed
from tests.support.harness import KafkaHarness

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

BINARY = bytes(range(256)) * 2
TEXT_C = "Subject: c\r\n\r\nbody ç".encode()
ORIGINAL = [("mailbox", b"box-1"), ("uid", b"17"), ("replayed-from", b"x.dlq:0:1")]  # an earlier replay's


@pytest.fixture
def kafka() -> Iterator[KafkaHarness]:
    h = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    yield h
    h.close()


def put_dead_letters(h: KafkaHarness, outputs: list[Output]) -> None:
    producer = h.producer()
    for out in outputs:
        producer.send(out)
    producer.flush(30)


def poisoned(src: str, partition: int, offset: int, key: bytes | None, value: bytes, reason: str,
             stage: str = "parser") -> Output:
    record = Record(src, partition, offset, key, value, list(ORIGINAL))
    return dead_letter(record, PoisonMessage(reason, f"{reason} at {offset}: line one\nline two"), stage)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["dlq", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> list[list[str]]:
    return [line.split("\t") for line in out.splitlines()[1:]]


@pytest.fixture
def topics(kafka: KafkaHarness, unique: str) -> tuple[str, str]:
    """A source topic with 2 partitions and its .dlq holding four dead letters:
    offsets 0 and 2 unparseable (text), 1 schema (binary, no key), 3 from the fetcher (not replayable)."""
    src = f"d{unique}.src"
    kafka.create_topic(src, 2)
    kafka.create_topic(dlq(src), 1)
    put_dead_letters(kafka, [
        poisoned(src, 1, 40, b"k-a", b"Subject: a\r\n\r\nbody a", "unparseable"),
        poisoned(src, 0, 41, None, BINARY, "schema", stage="matcher"),
        poisoned(src, 1, 42, b"k-c", TEXT_C, "unparseable"),
        Output(dlq(src), b"k-d", b"", [("mailbox", b"box-1"), ("dlq-source-topic", src.encode()),
                                       ("dlq-stage", b"fetcher"), ("dlq-reason", b"fetch_failed"),
                                       ("dlq-error", b"server dropped the session")]),
    ])
    return src, dlq(src)


def test_list_filters_combine_and_json_has_every_field(topics: tuple[str, str],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    src, dlq_topic = topics
    code, out, _ = cli(capsys, "list", "--topic", src)
    assert code == 0
    assert out.splitlines()[0].split("\t") == ["ID", "TIME", "SOURCE", "STAGE", "REASON", "STATUS", "ERROR"]
    assert [r[0] for r in rows(out)] == [f"{dlq_topic}:0:{o}" for o in range(4)]
    first = rows(out)[0]
    assert first[2:] == [f"{src}:1:40", "parser", "unparseable", "pending", "unparseable at 40: line one line two"]
    assert rows(out)[3][2:6] == [f"{src}:-:-", "fetcher", "fetch_failed", "not-replayable"]

    _, out, _ = cli(capsys, "list", "--topic", dlq_topic, "--reason", "unparseable")
    assert [r[0] for r in rows(out)] == [f"{dlq_topic}:0:0", f"{dlq_topic}:0:2"]
    _, out, _ = cli(capsys, "list", "--topic", src, "--reason", "unparseable", "--stage", "matcher")
    assert rows(out) == []
    _, out, _ = cli(capsys, "list", "--topic", src, "--stage", "matcher", "--since", "1h")
    assert [r[0] for r in rows(out)] == [f"{dlq_topic}:0:1"]
    _, out, _ = cli(capsys, "list", "--topic", src, "--since", "2999-01-01")
    assert rows(out) == []

    _, out, _ = cli(capsys, "list", "--topic", src, "--json", "--since", datetime.now(UTC).date().isoformat())
    docs = [json.loads(line) for line in out.splitlines()]
    assert len(docs) == 4
    assert docs[1] | {"time": None} == {
        "id": f"{dlq_topic}:0:1", "time": None, "dlq_topic": dlq_topic, "source_topic": src,
        "source": f"{src}:0:41", "stage": "matcher", "reason": "schema",
        "error": "schema at 41: line one\nline two", "status": "pending", "replayed_to": None,
        "replayed_at": None, "value_bytes": len(BINARY)}
    assert datetime.fromisoformat(docs[1]["time"].replace("Z", "+00:00")) <= datetime.now(UTC)


def test_show_prints_provenance_original_headers_and_value(topics: tuple[str, str],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _, dlq_topic = topics
    code, out, _ = cli(capsys, "show", f"{dlq_topic}:0:2")
    assert code == 0
    provenance = out[out.index("provenance:"):out.index("headers:")]
    assert "  dlq-source-offset: 42\n" in provenance and "  dlq-reason: unparseable\n" in provenance
    assert "  mailbox: box-1\n  uid: 17\n" in out[out.index("headers:"):]
    assert "key:     k-c\n" in out
    assert out.endswith(f"value:   {len(TEXT_C)} bytes, UTF-8 text\n{TEXT_C.decode()}\n")

    code, out, _ = cli(capsys, "show", f"{dlq_topic}:0:1")
    assert f"value:   {len(BINARY)} bytes, not UTF-8; the first 256:" in out
    assert "  00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  ................" in out
    assert "key:     (none)" in out

    code, out, _ = cli(capsys, "show", f"{dlq_topic}:0:1", "--json")
    doc = json.loads(out)
    assert doc["value_base64"] and doc["key"] is None
    assert doc["headers"] == [["mailbox", "box-1"], ["uid", "17"], ["replayed-from", "x.dlq:0:1"]]

    assert cli(capsys, "show", f"{dlq_topic}:0:99")[0] == 1
    assert cli(capsys, "show", "not-an-id")[0] == 2


def test_replay_sends_key_value_original_headers_and_replayed_from(
        kafka: KafkaHarness, topics: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    src, dlq_topic = topics
    code, out, _ = cli(capsys, "replay", "--ids", f"{dlq_topic}:0:0", f"{dlq_topic}:0:1", "--dry-run")
    assert code == 0 and kafka.read_all(src) == []
    assert out.splitlines() == [f"would replay\t{dlq_topic}:0:0\t{src}:1:40 -> {src}",
                                f"would replay\t{dlq_topic}:0:1\t{src}:0:41 -> {src}", "dry run: 2 would replay"]

    code, out, _ = cli(capsys, "replay", "--ids", f"{dlq_topic}:0:0,{dlq_topic}:0:1", f"{dlq_topic}:0:3")
    assert code == 0, out
    replayed = sorted(kafka.read_all(src), key=lambda r: r.value or b"")
    assert [(r.key, r.value, r.headers) for r in replayed] == [
        (None, BINARY, [("mailbox", b"box-1"), ("uid", b"17"), ("replayed-from", f"{dlq_topic}:0:1".encode())]),
        (b"k-a", b"Subject: a\r\n\r\nbody a",
         [("mailbox", b"box-1"), ("uid", b"17"), ("replayed-from", f"{dlq_topic}:0:0".encode())]),
    ]
    lines = out.splitlines()
    assert lines[0].startswith(f"replayed\t{dlq_topic}:0:0\t{src}:1:40 -> {src}:")
    assert lines[2].startswith(f"not replayable\t{dlq_topic}:0:3\t{src}:-:-\tnever read from its source topic")
    assert lines[-1] == "1 not replayable, 2 replayed"

    _, out, _ = cli(capsys, "list", "--topic", src, "--pending")
    assert [r[0] for r in rows(out)] == [f"{dlq_topic}:0:2"]
    _, out, _ = cli(capsys, "show", f"{dlq_topic}:0:0")
    target = next(f"{r.topic}:{r.partition}:{r.offset}" for r in replayed if r.key == b"k-a")
    assert "status:  replayed at " in out and out.split("\n")[2].endswith(f" as {target}")


def test_second_replay_sends_nothing_unless_forced(kafka: KafkaHarness, topics: tuple[str, str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    src, dlq_topic = topics
    assert cli(capsys, "replay", "--topic", src, "--reason", "unparseable")[0] == 0
    assert len(kafka.read_all(src)) == 2

    code, out, _ = cli(capsys, "replay", "--topic", src, "--reason", "unparseable")
    assert code == 0
    assert out.splitlines()[-1] == "2 already replayed"
    assert "--force sends it again" in out.splitlines()[0]
    assert len(kafka.read_all(src)) == 2  # nothing sent

    # the same source record dead-lettered twice (a stage crashed before committing): one replay
    put_dead_letters(kafka, [poisoned(src, 1, 40, b"k-a", b"Subject: a\r\n\r\nbody a", "unparseable")])
    code, out, _ = cli(capsys, "replay", "--ids", f"{dlq_topic}:0:4", "--json")
    assert json.loads(out.splitlines()[0])["status"] == "already_replayed"
    assert f"(as {dlq_topic}:0:0, the same source record)" in json.loads(out.splitlines()[0])["detail"]
    assert len(kafka.read_all(src)) == 2

    code, out, _ = cli(capsys, "replay", "--ids", f"{dlq_topic}:0:0", "--force")
    assert code == 0 and out.splitlines()[-1] == "1 replayed"
    assert len(kafka.read_all(src)) == 3

    code, out, err = cli(capsys, "replay", "--ids", f"{dlq_topic}:0:77")
    assert code == 1 and out.splitlines()[0].startswith(f"not found\t{dlq_topic}:0:77")


def test_long_replay_reports_progress_on_stderr(kafka: KafkaHarness, unique: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    src = f"p{unique}.src"
    kafka.create_topic(src, 3)
    kafka.create_topic(dlq(src), 2)
    put_dead_letters(kafka, [poisoned(src, n % 3, n, f"k{n}".encode(), f"v{n}".encode(), "unparseable")
                             for n in range(25)])
    code, out, err = cli(capsys, "replay", "--topic", src, "--progress-every", "10")
    assert code == 0 and out.splitlines()[-1] == "25 replayed"
    progress = [line for line in err.splitlines() if line.startswith("mailpipe dlq replay:")]
    assert progress[:2] == [f"mailpipe dlq replay: {dlq(src)}: 10 of at most 25 records (10 replayed)",
                            f"mailpipe dlq replay: {dlq(src)}: 20 of at most 25 records (20 replayed)"]
    assert progress[-1] == f"mailpipe dlq replay: {dlq(src)}: 25 of at most 25 records (25 replayed)"
    assert sorted(r.value for r in kafka.read_all(src)) == sorted(f"v{n}".encode() for n in range(25))


@pytest.mark.postgres
def test_replay_twice_stores_nothing_twice(kafka: KafkaHarness, unique: str, pg_dsn: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Storage's dead letters (say PostgreSQL refused them) replayed into storage on a test topic:
    stored once; a second replay sends nothing; a forced one sends again and storage dedupes."""
    src, group = f"m{unique}.matched", f"g{unique}"
    kafka.create_topic(src, 2)
    kafka.create_topic(dlq(src), 1)
    letters = []
    for n in range(3):
        matched = MatchedEmail(email=parsed(n, f"box-{unique}", 100 + n))
        env = MatchedEnvelope(email_id=matched.email.email_id, producer="matcher", occurred_at=T0, payload=matched)
        record = Record(src, 0, n, str(matched.email.email_id).encode(), encode(env), [("email-id", b"x")])
        letters.append(dead_letter(record, PoisonMessage("unhandled", "OperationalError"), "storage"))
    put_dead_letters(kafka, letters)
    stage = StoreStage(lambda: psycopg.connect(pg_dsn, autocommit=True))
    runner = StageRunner(stage, kafka.consumer(group, [src]), kafka.producer(), RuntimeSettings())

    def drain() -> bytes:
        """Run storage over every record of the source topic, then dump its tables."""
        ends = {p: n for p, n in enumerate(_end_offsets(kafka, src))}
        deadline = time.monotonic() + 90
        while any((kafka.committed(group, src, p) or 0) < n for p, n in ends.items()):
            assert time.monotonic() < deadline, "storage did not take every replayed record"
            runner.run_once()
        return dump(pg_dsn, without=("stored_at", "updated_at"))

    try:
        assert cli(capsys, "replay", "--topic", src)[0] == 0
        first = drain()
        with psycopg.connect(pg_dsn) as conn:
            assert conn.execute("SELECT count(*) FROM emails").fetchone() == (3,)
        code, out, _ = cli(capsys, "replay", "--topic", src)
        assert code == 0 and out.splitlines()[-1] == "3 already replayed"
        assert len(kafka.read_all(src)) == 3
        assert drain() == first
        assert cli(capsys, "replay", "--topic", src, "--force")[0] == 0
        assert len(kafka.read_all(src)) == 6
        assert drain() == first
    finally:
        stage.close()


def _end_offsets(kafka: KafkaHarness, topic: str) -> list[int]:
    from kafka.structs import TopicPartition
    from mailpipe.common import clients

    consumer = clients.make_consumer(kafka.settings, None)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        ends = consumer.end_offsets(parts)
        return [ends[tp] for tp in parts]
    finally:
        consumer.close(autocommit=False)


def test_unknown_topic_is_an_error(unique: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "list", "--topic", f"nothing{unique}")
    assert code == 2 and f"no such topic: nothing{unique}.dlq" in err
