"""The consumer loop's guarantees, tested against the in-memory broker and the real Kafka alike."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from mailpipe.common.errors import DeadLetterRatioExceeded, PoisonMessage, TransientError
from mailpipe.common.runtime.loop import Stage, StageRunner
from mailpipe.common.runtime.ports import Output, Record
from mailpipe.common.settings import RuntimeSettings

from tests.conftest import stack_env
from tests.support.harness import Harness, KafkaHarness, MemoryHarness

FAST = RuntimeSettings(retry_attempts=3, retry_backoff_seconds=0.01, dlq_min_records=5, poll_timeout_seconds=0.5)


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        yield MemoryHarness()
    else:
        h = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
        yield h
        h.close()


@pytest.fixture
def topics(harness: Harness, unique: str) -> tuple[str, str]:
    src, out = f"t{unique}.in", f"t{unique}.out"
    for t in (src, out, f"{src}.dlq"):
        harness.create_topic(t)
    return src, out


class Upper(Stage):
    """Echoes each value upper-cased; values named in ``poison``/``flaky`` misbehave."""

    name = "upper"

    def __init__(self, out: str, poison: set[bytes] = frozenset(), flaky: dict[bytes, int] | None = None) -> None:
        self.out, self.poison, self.flaky = out, poison, dict(flaky or {})
        self.calls: list[bytes] = []

    def handle(self, record: Record) -> list[Output]:
        value = record.value or b""
        self.calls.append(value)
        if value in self.poison:
            raise PoisonMessage("bad_value", f"cannot take {value!r}")
        if self.flaky.get(value, 0) > 0:
            self.flaky[value] -= 1
            raise TransientError("dependency hiccup")
        return [Output(self.out, record.key, value.upper())]


def drive(runner: StageRunner, until, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "condition not reached"
        runner.run_once()


def feed(harness: Harness, topic: str, *values: bytes) -> None:
    for i, v in enumerate(values):
        harness.produce(topic, f"k{i}".encode(), v)


def test_poison_goes_to_dlq_with_provenance_and_is_committed(harness: Harness, topics, unique: str) -> None:
    src, out = topics
    feed(harness, src, b"a", b"bad", b"c")
    stage = Upper(out, poison={b"bad"})
    runner = StageRunner(stage, harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    drive(runner, lambda: harness.committed(f"g{unique}", src) == 3)
    assert [r.value for r in harness.read_all(out)] == [b"A", b"C"]
    [dead] = harness.read_all(f"{src}.dlq")
    assert dead.value == b"bad" and dead.key == b"k1"
    assert dead.header("dlq-reason") == b"bad_value"
    assert dead.header("dlq-source-topic") == src.encode()
    assert dead.header("dlq-source-offset") == b"1"
    assert dead.header("dlq-stage") == b"upper"


def test_transient_error_is_retried_then_succeeds(harness: Harness, topics, unique: str) -> None:
    src, out = topics
    feed(harness, src, b"a", b"b")
    stage = Upper(out, flaky={b"b": 2})
    runner = StageRunner(stage, harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    drive(runner, lambda: harness.committed(f"g{unique}", src) == 2)
    assert stage.calls.count(b"b") == 3
    assert [r.value for r in harness.read_all(out)] == [b"A", b"B"]


def test_transient_error_exhausted_raises_without_commit(harness: Harness, topics, unique: str) -> None:
    src, out = topics
    feed(harness, src, b"a", b"b")
    stage = Upper(out, flaky={b"b": 99})
    runner = StageRunner(stage, harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    with pytest.raises(TransientError):
        drive(runner, lambda: False)
    assert stage.calls.count(b"b") == FAST.retry_attempts
    assert harness.committed(f"g{unique}", src) is None  # not even "a": its batch was not finished


def test_outputs_are_durable_before_the_commit(harness: Harness, topics, unique: str) -> None:
    src, out = topics
    feed(harness, src, b"a", b"b", b"c")
    consumer = harness.consumer(f"g{unique}", [src])
    seen_at_commit: list[list[bytes | None]] = []
    real_commit = consumer.commit

    def checking_commit(offsets: dict[tuple[str, int], int]) -> None:
        seen_at_commit.append([r.value for r in harness.read_all(out)])
        real_commit(offsets)

    consumer.commit = checking_commit  # type: ignore[method-assign]
    runner = StageRunner(Upper(out), consumer, harness.producer(), FAST)
    drive(runner, lambda: harness.committed(f"g{unique}", src) == 3)
    assert seen_at_commit, "nothing was committed"
    assert seen_at_commit[-1] == [b"A", b"B", b"C"]


def test_dead_letter_ratio_guard_stops_the_stage(harness: Harness, topics, unique: str) -> None:
    src, out = topics
    values = [f"bad{i}".encode() for i in range(10)]
    feed(harness, src, *values)
    runner = StageRunner(Upper(out, poison=set(values)), harness.consumer(f"g{unique}", [src]),
                         harness.producer(), FAST)
    with pytest.raises(DeadLetterRatioExceeded):
        drive(runner, lambda: False)
    assert harness.committed(f"g{unique}", src) is None


def test_expected_refusals_do_not_count_towards_the_ratio_guard(harness: Harness, topics, unique: str) -> None:
    """A record's own outcome (an SMTP server's 5xx to that message) is dead-lettered like any
    poison but is no sign of something systemic: ten in a row leave the stage running."""
    src, out = topics
    values = [f"refused{i}".encode() for i in range(10)]
    feed(harness, src, *values)

    class Refusing(Upper):
        def handle(self, record: Record) -> list[Output]:
            raise PoisonMessage("smtp_refused", "550 no such user", expected=True)

    runner = StageRunner(Refusing(out), harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    drive(runner, lambda: harness.committed(f"g{unique}", src) == 10)
    assert len(harness.read_all(f"{src}.dlq")) == 10


def test_unexpected_exception_is_dead_lettered_as_unhandled(harness: Harness, topics, unique: str) -> None:
    src, out = topics
    feed(harness, src, b"a", b"b")

    class Buggy(Upper):
        def handle(self, record: Record) -> list[Output]:
            if record.value == b"a":
                raise ZeroDivisionError("a bug")
            return super().handle(record)

    runner = StageRunner(Buggy(out), harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    drive(runner, lambda: harness.committed(f"g{unique}", src) == 2)
    [dead] = harness.read_all(f"{src}.dlq")
    assert dead.header("dlq-reason") == b"unhandled"
    assert b"ZeroDivisionError" in (dead.header("dlq-error") or b"")


class Batched(Stage):
    """Keeps each value in ``handle`` and stores the kept ones in ``durable``, as a stage holding
    one transaction across a batch does; ``durable`` fails ``failures`` times first, and refuses
    the values in ``refuse``."""

    name = "batched"

    def __init__(self, failures: int = 0, refuse: set[bytes] = frozenset()) -> None:
        self.failures, self.refuse = failures, refuse
        self.kept: list[Record] = []
        self.stored: list[bytes] = []
        self.durable_calls = 0

    def handle(self, record: Record) -> list[Output]:
        self.kept.append(record)
        return []

    def durable(self) -> list[tuple[Record, PoisonMessage]]:
        self.durable_calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise TransientError("commit failed")  # what is kept stays kept for the next call
        refused = [(r, PoisonMessage("refused", "no")) for r in self.kept if r.value in self.refuse]
        self.stored += [r.value or b"" for r in self.kept if r.value not in self.refuse]
        self.kept.clear()
        return refused


def test_durable_is_called_before_the_commit(harness: Harness, topics, unique: str) -> None:
    src, _ = topics
    feed(harness, src, b"a", b"b", b"c")
    consumer = harness.consumer(f"g{unique}", [src])
    stage = Batched()
    stored_at_commit: list[list[bytes]] = []
    real_commit = consumer.commit

    def checking_commit(offsets: dict[tuple[str, int], int]) -> None:
        stored_at_commit.append(list(stage.stored))
        real_commit(offsets)

    consumer.commit = checking_commit  # type: ignore[method-assign]
    runner = StageRunner(stage, consumer, harness.producer(), FAST)
    drive(runner, lambda: harness.committed(f"g{unique}", src) == 3)
    assert stored_at_commit and stored_at_commit[-1] == [b"a", b"b", b"c"]


def test_a_failing_durable_means_no_commit_and_a_replay_stores_everything(
        harness: Harness, topics, unique: str) -> None:
    src, _ = topics
    feed(harness, src, b"a", b"b", b"c")
    broken, consumer = Batched(failures=99), harness.consumer(f"g{unique}", [src])
    runner = StageRunner(broken, consumer, harness.producer(), FAST)
    with pytest.raises(TransientError):
        drive(runner, lambda: False)
    assert broken.durable_calls == FAST.retry_attempts
    assert harness.committed(f"g{unique}", src) is None
    consumer.close()  # the process exits; the orchestrator starts a new one, which replays (no commit yet)
    healthy = Batched()
    runner = StageRunner(healthy, harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    drive(runner, lambda: harness.committed(f"g{unique}", src) == 3)
    assert healthy.stored == [b"a", b"b", b"c"]


def test_a_transient_durable_failure_is_retried_then_committed(harness: Harness, topics, unique: str) -> None:
    src, _ = topics
    feed(harness, src, b"a", b"b")
    stage = Batched(failures=2)
    runner = StageRunner(stage, harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    drive(runner, lambda: harness.committed(f"g{unique}", src) == 2)
    assert stage.durable_calls >= 3 and stage.stored == [b"a", b"b"]


def test_records_durable_refuses_are_dead_lettered_before_the_commit(harness: Harness, topics, unique: str) -> None:
    src, _ = topics
    feed(harness, src, b"a", b"bad", b"c")
    stage = Batched(refuse={b"bad"})
    runner = StageRunner(stage, harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    drive(runner, lambda: harness.committed(f"g{unique}", src) == 3)
    assert stage.stored == [b"a", b"c"]
    [dead] = harness.read_all(f"{src}.dlq")
    assert dead.value == b"bad" and dead.header("dlq-reason") == b"refused"
    assert dead.header("dlq-source-offset") == b"1" and dead.header("dlq-stage") == b"batched"


def test_a_failing_durable_on_rebalance_commits_nothing_and_stops_the_runner(
        harness: Harness, topics, unique: str) -> None:
    src, _ = topics
    feed(harness, src, b"a")
    stage = Batched()
    runner = StageRunner(stage, harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    stage.failures = 99
    with pytest.raises(TransientError):
        drive(runner, lambda: False)  # the batch's own commit fails: nothing committed
    runner.on_revoked([(src, 0)])  # the client swallows a listener's exception: the runner keeps it
    assert harness.committed(f"g{unique}", src) is None
    with pytest.raises(TransientError, match="rebalance"):
        runner.run_once()


class WholeBatch(Upper):
    """Upper, a poll batch at a time: ``batches`` records each call's values; a value in ``bug``
    breaks the batch call (not ``handle``), so only the one-by-one fallback can pin it."""

    def __init__(self, out: str, bug: bytes | None = None, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(out, **kw)
        self.bug, self.batches = bug, list[list[bytes]]()

    def handle_batch(self, records):  # type: ignore[no-untyped-def]
        values = [r.value or b"" for r in records]
        self.batches.append(values)
        if self.bug in values:
            raise KeyError("a bug only the batch path has")
        for v in values:
            if self.flaky.get(v, 0) > 0:
                self.flaky[v] -= 1
                raise TransientError("dependency hiccup")
        return [PoisonMessage("bad_value", "no") if v in self.poison else [Output(self.out, None, v.upper())]
                for v in values]


def test_a_batched_stage_gets_the_whole_poll_and_its_poison_is_dead_lettered(
        harness: Harness, topics, unique: str) -> None:
    src, out = topics
    feed(harness, src, b"a", b"bad", b"c")
    stage = WholeBatch(out, poison={b"bad"})
    runner = StageRunner(stage, harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    drive(runner, lambda: harness.committed(f"g{unique}", src) == 3)
    assert stage.calls == [] and sum(map(len, stage.batches)) == 3  # handle_batch only, each record once
    assert [r.value for r in harness.read_all(out)] == [b"A", b"C"]
    [dead] = harness.read_all(f"{src}.dlq")
    assert dead.value == b"bad" and dead.header("dlq-reason") == b"bad_value"


def test_a_batched_stage_is_retried_as_a_whole_on_transient_errors(harness: Harness, topics, unique: str) -> None:
    src, out = topics
    feed(harness, src, b"a", b"b")
    stage = WholeBatch(out, flaky={b"b": 2})
    runner = StageRunner(stage, harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    drive(runner, lambda: harness.committed(f"g{unique}", src) == 2)
    assert [r.value for r in harness.read_all(out)] == [b"A", b"B"]  # each output once: sent after success
    assert sum(b.count(b"b") for b in stage.batches) == 3


def test_a_bug_in_a_batch_falls_back_to_one_by_one_and_loses_nothing(harness: Harness, topics, unique: str) -> None:
    src, out = topics
    feed(harness, src, b"a", b"b", b"c")
    stage = WholeBatch(out, bug=b"b")
    runner = StageRunner(stage, harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    drive(runner, lambda: harness.committed(f"g{unique}", src) == 3)
    assert stage.batches and b"b" in stage.batches[0]  # the batch call came first, and failed
    assert sorted(stage.calls) == [b"a", b"b", b"c"]  # handle, once each, after the batch call failed
    assert [r.value for r in harness.read_all(out)] == [b"A", b"B", b"C"]


def test_the_stage_counters_exist_at_zero_before_the_first_record(harness: Harness, topics, unique: str) -> None:
    """A counter born at its first batch's count gives rate() no earlier sample: the whole first
    poll batch would never show on the dashboards."""
    from prometheus_client import REGISTRY

    src, out = topics
    stage = Upper(out)
    stage.name = f"fresh{unique}"
    StageRunner(stage, harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    for metric in ("mailpipe_runtime_records_consumed_total", "mailpipe_runtime_commits_total"):
        assert REGISTRY.get_sample_value(metric, {"stage": stage.name}) == 0, metric
