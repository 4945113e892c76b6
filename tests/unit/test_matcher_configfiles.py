"""The matcher's configuration files: the service's global-filters file and the mailboxes file of
``mailpipe match`` read the same spelling, and a file the reader cannot place is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mailpipe.common.errors import ConfigError
from mailpipe.matcher.configfiles import read_filters, read_mailbox_config

FILTER = {"name": "no newsletters", "conditions": [{"field": "from", "op": "matches", "value": "news@*"}]}


@pytest.mark.parametrize("doc", [[FILTER], {"global_filters": [FILTER]}, {"filters": [FILTER]}])
def test_global_filters_file_takes_a_list_or_either_key(tmp_path: Path, doc: object) -> None:
    path = tmp_path / "filters.json"
    path.write_text(json.dumps(doc))
    assert [f.name for f in read_filters(path)] == ["no newsletters"]


def test_a_misspelt_key_is_an_error_not_no_filters(tmp_path: Path) -> None:
    path = tmp_path / "filters.yaml"
    path.write_text("global_filter:\n  - name: x\n")
    with pytest.raises(ConfigError, match="global_filter"):
        read_filters(path)


def test_mailpipe_match_reads_the_same_global_filters(tmp_path: Path) -> None:
    path = tmp_path / "boxes.yaml"
    path.write_text(json.dumps({"mailboxes": [], "global_filters": [FILTER]}))
    boxes, filters = read_mailbox_config(path)
    assert boxes == [] and filters == read_filters(path)


def test_an_invalid_filter_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "filters.json"
    path.write_text(json.dumps([{"name": "empty", "conditions": []}]))
    with pytest.raises(ConfigError, match="filters.json"):
        read_filters(path)
