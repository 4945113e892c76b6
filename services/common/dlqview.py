"""How ``mailpipe dlq`` prints dead letters: list lines, the show page, replay outcomes, JSON."""

from __future__ import annotations

import base64
from typing import Any

from .dlqledger import Replay
from .dlqreplay import Outcome
from .dlqtool import DeadLetter
from .runtime.dlq import PROVENANCE_PREFIX

MAX_VALUE_BYTES = 64 * 1024
HEX_PREVIEW_BYTES = 256
ERROR_CHARS = 100
LIST_HEADER = "\t".join(("ID", "TIME", "SOURCE", "STAGE", "REASON", "STATUS", "ERROR"))


def status(letter: DeadLetter, replay: Replay | None) -> str:
    """``pending``, ``replayed`` or ``not-replayable``."""
    if not letter.replayable:
        return "not-replayable"
    return "replayed" if replay is not None else "pending"


def list_line(letter: DeadLetter, replay: Replay | None) -> str:
    """One tab-separated line; the error on one line, cut at ERROR_CHARS."""
    error = " ".join(letter.error.split())
    error = error if len(error) <= ERROR_CHARS else error[:ERROR_CHARS - 1] + "…"
    return "\t".join((str(letter.id), _time(letter), letter.source, letter.stage or "-", letter.reason or "-",
                      status(letter, replay), error))


def summary(letter: DeadLetter, replay: Replay | None) -> dict[str, Any]:
    """A dead letter without its value, for ``list --json`` (the error whole, as dead-lettered)."""
    return {"id": str(letter.id), "time": _time(letter), "dlq_topic": letter.id.topic,
            "source_topic": letter.source_topic, "source": letter.source, "stage": letter.stage,
            "reason": letter.reason, "error": letter.error, "status": status(letter, replay),
            "replayed_to": replay.replayed_to if replay else None,
            "replayed_at": replay.replayed_at if replay else None,
            "value_bytes": len(letter.value or b"")}


def detail(letter: DeadLetter, replay: Replay | None) -> dict[str, Any]:
    """Everything about one dead letter, for ``show --json``: header values and the key as text
    where they are UTF-8 (else base64 under ``*_base64``), the whole value likewise."""
    return {**summary(letter, replay),
            "provenance": {k: _text(v) for k, v in letter.headers if k.startswith(PROVENANCE_PREFIX)},
            "headers": [[k, _text(v)] for k, v in letter.original_headers],
            **_json_bytes("key", letter.key), **_json_bytes("value", letter.value)}


def show_text(letter: DeadLetter, replay: Replay | None, max_bytes: int) -> str:
    """The show page: id, time, status, provenance, original headers, key, then the value (text
    when it is UTF-8, up to ``max_bytes`` (0: all); else a hex preview and the size)."""
    lines = [f"id:      {letter.id}", f"time:    {_time(letter)}", f"status:  {_status_text(letter, replay)}",
             "provenance:"]
    lines += [f"  {k}: {_text(v)}" for k, v in letter.headers if k.startswith(PROVENANCE_PREFIX)]
    lines.append("headers:" if letter.original_headers else "headers: (none)")
    lines += [f"  {k}: {_text(v)}" for k, v in letter.original_headers]
    lines.append(f"key:     {'(none)' if letter.key is None else _text(letter.key)}")
    value = letter.value
    if value is None:
        lines.append("value:   (none)")
        return "\n".join(lines)
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        lines.append(f"value:   {len(value)} bytes, not UTF-8; the first {min(len(value), HEX_PREVIEW_BYTES)}:")
        lines += [_hex_line(value, at) for at in range(0, min(len(value), HEX_PREVIEW_BYTES), 16)]
        return "\n".join(lines)
    lines.append(f"value:   {len(value)} bytes, UTF-8 text")
    if max_bytes and len(value) > max_bytes:
        lines.append(value[:max_bytes].decode("utf-8", "ignore"))  # "ignore": a character cut in two
        lines.append(f"[... {len(value) - max_bytes} more bytes; --max-bytes 0 prints all]")
    else:
        lines.append(text)
    return "\n".join(lines)


def outcome_line(outcome: Outcome) -> str:
    """One replay outcome: ``replayed  ID  source -> target``, with the detail where there is one."""
    arrow = f"{outcome.source} -> {outcome.target}" if outcome.target else outcome.source
    return "\t".join(p for p in (outcome.status.replace("_", " "), outcome.id, arrow, outcome.detail) if p)


def counts_text(counts: dict[str, int]) -> str:
    """``2 already replayed, 3 replayed``: the outcomes so far."""
    return ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items())) or "nothing selected"


def summary_line(counts: dict[str, int], dry_run: bool) -> str:
    return f"{'dry run: ' if dry_run else ''}{counts_text(counts)}"


def _status_text(letter: DeadLetter, replay: Replay | None) -> str:
    if replay is not None:
        return f"replayed at {replay.replayed_at} as {replay.replayed_to}"
    if not letter.replayable:
        return "not replayable (never read from its source topic: fetch it again)"
    return "pending"


def _time(letter: DeadLetter) -> str:
    return letter.timestamp.isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"(binary, {len(data)} bytes) {data[:32].hex()}{'…' if len(data) > 32 else ''}"


def _json_bytes(name: str, data: bytes | None) -> dict[str, Any]:
    if data is None:
        return {name: None}
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_base64": base64.b64encode(data).decode()}


def _hex_line(data: bytes, at: int) -> str:
    chunk = data[at:at + 16]
    printable = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
    return f"  {at:08x}  {chunk.hex(' '):<47}  {printable}"
