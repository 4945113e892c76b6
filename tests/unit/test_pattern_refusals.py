"""A pattern that cannot run is refused when it is saved, naming the field and the reason: every
path that builds a mailbox configuration goes through the models (``accounts add/set/apply``, the
matcher's global filters file at start, ``mailpipe match --mailbox-config``). Before, such a
pattern was accepted and silently matched nothing, so a "never save" filter never excluded."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from mailpipe.common.errors import ConfigError
from mailpipe.common.messages import MailboxConfig
from mailpipe.common.patterns import AS_STORED
from mailpipe.fetcher.accounts.model import Account
from mailpipe.fetcher.accounts.spec import build_account, load_specs
from mailpipe.matcher.configfiles import read_filters, read_mailbox_config
from pydantic import ValidationError

LOOKAHEAD = "invalid perl operator: (?="
OPTIONS: dict[str, Any] = {
    "exclude_filters": ["*.png", "/abc"],
    "filters": [{"name": "never", "conditions": [{"field": "subject", "op": "contains", "value": "/(?=x)/"},
                                                 {"field": "body", "op": "matches", "value": "/(?=x)/"}]}],
    "autoresponse_rules": [{"name": "ack", "subject": "s", "body": "b",
                            "conditions": [{"field": "from", "op": "matches", "value": "/(a)\\1/"}]}],
}
# (field, reason) of each refusal in OPTIONS
WHERE = [("options.exclude_filters.1", "no closing /"),
         ("options.filters.0.conditions.1.value", LOOKAHEAD),
         ("options.autoresponse_rules.0.conditions.0.value", "invalid escape sequence: \\1")]
BOX = {"mailbox_id": "box", "name": "box", "protocol": "imap", "options": OPTIONS}
ACCOUNT = {"id": "box", "server": "imap.example", "username": "u@example.org", "options": OPTIONS}


def test_the_models_refuse_each_pattern_at_its_field() -> None:
    with pytest.raises(ValidationError) as caught:
        MailboxConfig.model_validate(BOX)
    found = {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}
    assert set(found) == {where for where, _ in WHERE}  # "contains /(?=x)/" is text, not a pattern
    for where, reason in WHERE:
        assert reason in found[where], where


@pytest.mark.parametrize(("pattern", "reason"), [("/abc/q", "unknown flag 'q'"), ("/abc", "no closing /"),
                                                 ("/(?=x)/", LOOKAHEAD), ("/(a)\\1/", "\\1")])
def test_file_name_filters_are_refused_in_either_list(pattern: str, reason: str) -> None:
    for field in ("include_filters", "exclude_filters"):
        with pytest.raises(ValidationError, match=re.escape(reason)):
            MailboxConfig.model_validate({**BOX, "options": {field: [pattern]}})


def test_configurations_stored_before_the_check_still_load() -> None:
    # the compacted topic and the accounts table may hold such a pattern from before: read as stored
    # it matches nothing, as it did; saved again it is refused
    assert MailboxConfig.model_validate(BOX, context=AS_STORED).options.exclude_filters == ["*.png", "/abc"]
    assert Account.model_validate(ACCOUNT, context=AS_STORED).options.filters[0].name == "never"


def test_accounts_add_and_set_name_the_field() -> None:
    with pytest.raises(ConfigError) as caught:
        build_account(ACCOUNT, "flags")
    for where, reason in WHERE:
        assert f"flags.{where}: Value error, " in str(caught.value) and reason in str(caught.value)


def test_accounts_apply_names_the_account_and_the_field(tmp_path: Path) -> None:
    spec = tmp_path / "accounts.yaml"
    spec.write_text(json.dumps({"accounts": [ACCOUNT]}))
    with pytest.raises(ConfigError, match=re.escape("accounts[0] (box).options.filters.0.conditions.1.value")):
        load_specs(spec)


def test_the_global_filters_file_names_the_filter_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "filters.yaml"
    path.write_text(json.dumps({"global_filters": [{"name": "ok", "conditions": [
        {"field": "subject", "op": "matches", "value": "*news*"}]}, *OPTIONS["filters"]]}))
    with pytest.raises(ConfigError) as caught:
        read_filters(path)
    assert "global_filters[1].conditions[1].value: Value error, " in str(caught.value)
    assert LOOKAHEAD in str(caught.value)
    assert str(path) in str(caught.value)


def test_mailpipe_match_mailbox_config_names_the_mailbox_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "boxes.yaml"
    path.write_text(json.dumps({"mailboxes": [{**BOX, "options": {}}, BOX]}))
    with pytest.raises(ConfigError) as caught:
        read_mailbox_config(path)
    assert "mailboxes[1].options.exclude_filters[1]: Value error, " in str(caught.value)
    assert "mailboxes[1].options.filters[0].conditions[1].value: Value error, " in str(caught.value)
