"""The parser process: wiring only."""

from __future__ import annotations

import threading

from ..common import clients, metrics
from ..common.health import Health
from ..common.objects import check_bucket, get_content, put_at
from ..common.service import run_stage
from ..common.settings import load
from ..common.topics import RAW
from .settings import ParserSettings
from .stage import ParseStage


def main() -> int:
    settings = load(ParserSettings)
    s3 = clients.make_s3(settings.s3)
    bucket = settings.s3.bucket
    check_bucket(s3, bucket)  # wrong credentials or bucket stop here, naming the variable

    def store(key: str, data: bytes) -> None:
        if put_at(s3, bucket, key, data):
            metrics.OBJECTS_WRITTEN.inc()

    def make_stage(health: Health, stop: threading.Event) -> ParseStage:
        return ParseStage(lambda key: get_content(s3, bucket, key), store, settings.parse.limits(),
                          settings.parse.body_cap_chars, settings.parse.io())

    return run_stage("parser", settings, [RAW], make_stage)
