"""A faust worker running the matcher with its state in faust tables (bench/faust_state.py starts it).

``python bench/faust_support/worker.py SPEC.json``: SPEC names the app id, broker, processing
guarantee, topics, the directory entities and the mailbox. One agent (concurrency 1) reads the
parsed topic, runs ``mailpipe.matcher.stage.Matcher`` (the rules of ``decide.py``) against
``TableState`` and sends the records ``stage.outputs`` makes. A record the matcher fails on is sent
to the dead-letter topic with the error and the stream moves on; none is acked silently.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import faust  # noqa: E402
from faust_support.tables import TableState  # noqa: E402
from mailpipe.common.mailboxes import Mailboxes  # noqa: E402
from mailpipe.common.messages import Entity, MailboxConfig, ParsedEnvelope  # noqa: E402
from mailpipe.matcher.directory import EntityIndex  # noqa: E402
from mailpipe.matcher.stage import Matcher, outputs  # noqa: E402

log = logging.getLogger("faust_state.worker")


def build(spec: dict[str, Any]) -> faust.App:
    """The faust app, its tables and its agent, from SPEC."""
    app = faust.App(spec["app_id"], broker=f"kafka://{spec['bootstrap']}", store="memory://",
                    processing_guarantee=spec["guarantee"], topic_partitions=spec["partitions"],
                    topic_replication_factor=1, web_enabled=False, broker_session_timeout=10,
                    broker_heartbeat_interval=1, broker_rebalance_timeout=20, consumer_auto_offset_reset="earliest")
    state = TableState(app, spec["partitions"])
    index = EntityIndex()
    for e in spec["entities"]:
        index.upsert(Entity.model_validate(e))
    mailboxes = Mailboxes()
    mailboxes.put(MailboxConfig.model_validate(spec["mailbox"]))
    matcher = Matcher(index, mailboxes, state)
    source = app.topic(spec["input"], key_type=bytes, value_type=bytes, value_serializer="raw")
    sinks = {name: app.topic(spec[name], key_type=bytes, value_type=bytes, value_serializer="raw")
             for name in ("matched", "autoreply", "dlq")}

    @app.agent(source, concurrency=1)
    async def match(stream: Any) -> None:
        async for event in stream.events():
            partition = event.message.partition  # outputs go with the source partition (one transaction)
            try:
                parsed = ParsedEnvelope.model_validate_json(event.value).payload
                outs = outputs(parsed, matcher.match(parsed), spec["matched"], spec["autoreply"])
            except Exception as exc:  # dead-lettered explicitly, then the stream moves on
                log.exception("dead-lettering offset %s", event.message.offset)
                await sinks["dlq"].send(key=event.key, value=event.value, partition=partition,
                                        headers=[("error", repr(exc)[:500].encode())])
                continue
            for out in outs:
                sink = sinks["matched"] if out.topic == spec["matched"] else sinks["autoreply"]
                await sink.send(key=out.key, value=out.value, partition=partition)

    del match  # registered with the app by the decorator
    return app


def main(spec_path: str) -> None:
    """Run the worker until SIGTERM (or SIGKILL)."""
    spec = json.loads(Path(spec_path).read_text())
    app = build(spec)
    faust.Worker(app, loglevel="info").execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1])
