"""deploy/observability: alert rules proven by promtool, dashboards by their generator and lint
rules, and every PromQL expression of both by a real Prometheus scraping the real services."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import stack_env

REPO = Path(__file__).resolve().parents[2]
OBS = REPO / "deploy" / "observability"
RULE_FILES = sorted((OBS / "rules").glob("*.yaml"))
TEST_FILES = sorted((OBS / "tests").glob("*.yaml"))
DASHBOARDS = sorted((OBS / "dashboards").glob("*.json"))
VENV_PYTHON = Path.home() / ".cache" / "mailpipe" / "venv-deploy" / "bin" / "python"
# Exported by prometheus-client's default collectors and by Prometheus itself, not by the catalogue.
BUILTIN = {"up", "process_start_time_seconds", "process_open_fds", "process_max_fds", "process_cpu_seconds_total",
           "process_resident_memory_bytes"}
METRIC_TOKEN = re.compile(r"\b(?:mailpipe_|process_)[a-z0-9_]+\b|\bup\b(?=\s*\{)")

pytestmark = pytest.mark.deploy


def exported_names() -> set[str]:
    """The names services/common/metrics.py exports, as Prometheus sees them (counters get _total,
    histograms _bucket/_sum/_count), read from its source (no import: the catalogue is the truth)."""
    tree = ast.parse((REPO / "services" / "common" / "metrics.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            kind, name = node.func.id, first.value
            if kind == "Counter":
                names.add(f"{name}_total")
            elif kind == "Histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            elif kind == "Gauge":
                names.add(name)
    return names


def rules() -> list[dict[str, Any]]:
    return [rule for f in RULE_FILES for group in yaml.safe_load(f.read_text())["groups"] for rule in group["rules"]]


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expression) of every target."""
    return [(f.name, p.get("title", ""), t["expr"]) for f in DASHBOARDS for p in panels(json.loads(f.read_text()))
            for t in p.get("targets", [])]


def test_catalogue_is_read_with_prometheus_suffixes() -> None:
    names = exported_names()
    assert {"mailpipe_runtime_records_consumed_total", "mailpipe_runtime_consumer_lag_records",
            "mailpipe_runtime_batch_duration_seconds_bucket"} <= names
    assert "mailpipe_runtime_records_consumed" not in names


def test_promtool_checks_the_rules() -> None:
    assert RULE_FILES
    result = subprocess.run(["promtool", "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_fire_and_stay_silent_for_every_alert() -> None:
    result = subprocess.run(["promtool", "test", "rules", *map(str, TEST_FILES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    firing: dict[str, int] = {}
    silent: dict[str, int] = {}
    for f in TEST_FILES:
        for case in yaml.safe_load(f.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                bucket = firing if check.get("exp_alerts") else silent
                bucket[check["alertname"]] = bucket.get(check["alertname"], 0) + 1
    alerts = {r["alert"] for r in rules() if "alert" in r}
    assert set(firing) == alerts and set(silent) == alerts, (
        f"no firing case: {alerts - set(firing)}; no silent case: {alerts - set(silent)}; "
        f"tests of unknown alerts: {(set(firing) | set(silent)) - alerts}")
    print(f"\n{len(alerts)} alerts, {sum(firing.values())} firing and {sum(silent.values())} silent cases")


RUNBOOK_BASE = "https://github.com/mailpipe/mailpipe/blob/main/docs/runbooks.md"


def heading_slugs(markdown: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces to dashes."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#{1,6} (.+)$", markdown, re.MULTILINE)}


def test_every_alert_has_a_runbook_entry_at_an_absolute_url() -> None:
    """Alertmanager, Grafana and PagerDuty show runbook_url as a link: a relative path leads nowhere."""
    runbooks = (REPO / "docs" / "runbooks.md").read_text()
    headings = set(re.findall(r"^## (\w+)$", runbooks, re.MULTILINE))
    slugs = heading_slugs(runbooks)
    for rule in rules():
        if "alert" in rule:
            assert rule["alert"] in headings, f"docs/runbooks.md has no '## {rule['alert']}'"
            url = urllib.parse.urlsplit(rule["annotations"]["runbook_url"])
            assert url.scheme == "https" and url.netloc, f"{rule['alert']}: runbook_url {url.geturl()} is not absolute"
            assert url._replace(fragment="").geturl() == RUNBOOK_BASE, rule["annotations"]["runbook_url"]
            assert url.fragment in slugs, f"{rule['alert']}: no heading of docs/runbooks.md has anchor #{url.fragment}"
            assert url.fragment == rule["alert"].lower()
            assert rule["labels"]["severity"] in {"warning", "critical"}


def rendered_prometheus_rule(*sets: str) -> dict[str, Any]:
    """The chart's PrometheusRule, rendered by the pinned Helm (built once, cached, by the project's
    script), with the values schema checked like any install."""
    helm = Path.home() / ".cache" / "mailpipe" / "bin" / "helm"
    built = subprocess.run(["bash", str(REPO / "deploy" / "tools" / "build-tools.sh"), "helm"],
                           capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stderr[-4000:]
    args = [str(helm), "template", "obs", str(REPO / "deploy" / "helm" / "mailpipe"),
            "-f", str(REPO / "deploy" / "helm" / "ci" / "defaults.yaml"),
            "--show-only", "templates/prometheusrule.yaml", "--set", "prometheusRule.enabled=true"]
    for value in sets:
        args += ["--set", value]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(yaml.safe_load(done.stdout))


def chart_runbook_urls(doc: dict[str, Any]) -> dict[str, str]:
    return {r["alert"]: r["annotations"]["runbook_url"] for g in doc["spec"]["groups"] for r in g["rules"]
            if "alert" in r}


def test_chart_keeps_or_rebases_the_runbook_urls() -> None:
    """Without prometheusRule.runbookBaseUrl the rules' absolute URLs stay; with it, everything
    before the '#' is the given base (an operator's own copy of the runbooks)."""
    expected = {r["alert"]: r["annotations"]["runbook_url"] for r in rules() if "alert" in r}
    assert chart_runbook_urls(rendered_prometheus_rule()) == expected
    rebased = chart_runbook_urls(rendered_prometheus_rule(
        "prometheusRule.runbookBaseUrl=https://wiki.example.com/ops/mailpipe-runbooks"))
    assert rebased == {alert: f"https://wiki.example.com/ops/mailpipe-runbooks#{alert.lower()}" for alert in expected}


AGGREGATION = re.compile(r"\b(sum|max|min|avg|count|group|topk|bottomk|quantile|stddev|stdvar|count_values)"
                         r"\s*(?:(by|without)\s*\(([^)]*)\))?\s*\(")


def aggregations_dropping_namespace(expr: str) -> list[str]:
    """Aggregations of ``expr`` whose result has no namespace label (``by`` without it, or no ``by``)."""
    bad = []
    for m in AGGREGATION.finditer(expr):
        mode, labels = m.group(2), m.group(3) or ""
        keys = {k.strip() for k in labels.split(",")}
        if mode == "without" and "namespace" not in keys:
            continue
        if mode != "by" or "namespace" not in keys:
            bad.append(m.group(0))
    return bad


def test_alert_aggregations_keep_the_namespace() -> None:
    """Several releases may share one Prometheus: no alert may add up or compare two namespaces' series.
    absent() has no labels to keep; it appears only for 'nothing of mailpipe is scraped at all'."""
    assert aggregations_dropping_namespace("sum(rate(x[5m])) / max by (stage) (y)") == ["sum(", "max by (stage) ("]
    assert aggregations_dropping_namespace("sum by (namespace, stage) (x)") == []
    for rule in rules():
        expr = rule["expr"]
        assert not aggregations_dropping_namespace(expr), (rule.get("alert"), aggregations_dropping_namespace(expr))
        assert re.findall(r"absent\(([^)]*)\)", expr) in ([], ['up{job="mailpipe"}']), (rule.get("alert"), expr)
        for op in re.findall(r"\b(?:and|or|unless)\s+on\s*\(([^)]*)\)", expr):
            assert "namespace" in op, (rule.get("alert"), expr)


def test_every_metric_used_exists_in_the_catalogue() -> None:
    known = exported_names() | BUILTIN
    exprs = [("rules", r.get("alert") or r.get("record"), r["expr"]) for r in rules()] + dashboard_queries()
    unknown = sorted({(where, what, name) for where, what, expr in exprs for name in METRIC_TOKEN.findall(expr)
                      if name not in known})
    assert not unknown, f"metric names not in services/common/metrics.py: {unknown}"


def test_dashboards_match_their_code() -> None:
    """The committed JSON is what deploy/observability/dashboards.py generates (no hand edits, no drift)."""
    subprocess.run([str(OBS / "tools" / "venv.sh")], check=True, capture_output=True)
    result = subprocess.run([str(VENV_PYTHON), str(OBS / "dashboards.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_dashboards_lint() -> None:
    assert {f.name for f in DASHBOARDS} >= {"mailpipe-overview.json", "mailpipe-fetcher.json", "mailpipe-parser.json",
                                            "mailpipe-matcher.json", "mailpipe-storage.json"}
    uids: set[str] = set()
    for f in DASHBOARDS:
        board = json.loads(f.read_text())
        assert board["uid"] not in uids, f"{f.name}: uid reused"
        uids.add(board["uid"])
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        boxes: list[tuple[str, dict[str, int]]] = []
        for panel in panels(board):
            where = f"{f.name}: {panel.get('title')!r}"
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, f"{where} leaves the grid"
            boxes.append((where, grid))
            if panel["type"] == "row":
                continue
            assert panel.get("description"), f"{where} has no description"
            assert panel["fieldConfig"]["defaults"].get("unit"), f"{where} has no unit"
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
            assert panel["targets"], f"{where} has no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}", where
                ranges = re.findall(r"\[([^\]]+)\]", target["expr"])
                assert all(r == "$__rate_interval" for r in ranges), f"{where}: range {ranges}, not $__rate_interval"
        for i, (a, ga) in enumerate(boxes):
            for b, gb in boxes[i + 1:]:
                overlap = (ga["x"] < gb["x"] + gb["w"] and gb["x"] < ga["x"] + ga["w"]
                           and ga["y"] < gb["y"] + gb["h"] and gb["y"] < ga["y"] + ga["h"])
                assert not overlap, f"{a} overlaps {b}"


SELECTOR = re.compile(r"\b(?:mailpipe_[a-z0-9_]+|process_[a-z0-9_]+|up)\b(?!\s*\()(\{[^}]*\})?")
NS_FILTER = 'namespace=~"$namespace"'


def test_dashboards_filter_every_query_by_namespace() -> None:
    """A namespace variable (All by default, All = the regex .*, which also matches series with no
    namespace label: the local stack's) and every series selector of every query filtered by it."""
    assert [m.group(0) for m in SELECTOR.finditer('sum by (stage) (rate(mailpipe_x_total{a="b"}[1m])) / up')] == [
        'mailpipe_x_total{a="b"}', "up"]
    for f in DASHBOARDS:
        board = json.loads(f.read_text())
        variables = {v["name"]: v for v in board["templating"]["list"]}
        ns = variables.get("namespace")
        assert ns, f"{f.name}: no namespace variable"
        assert ns["type"] == "query" and ns["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert re.fullmatch(r"label_values\(\w+(\{[^}]*\})?, *namespace\)", ns["query"]), ns["query"]
        assert ns["includeAll"] is True and ns["allValue"] == ".*", f.name
        assert ns["current"]["value"] == "$__all", f"{f.name}: the namespace variable does not default to All"
        for board_name, title, expr in dashboard_queries():
            if board_name != f.name:
                continue
            for m in SELECTOR.finditer(expr):
                assert NS_FILTER in (m.group(1) or ""), f"{f.name}: {title!r}: {m.group(0)} lacks the namespace"


# --- against a real Prometheus scraping the real services ---------------------------------------

def grafana_to_promql(expr: str) -> str:
    """What Grafana sends with the namespace variable at All (its allValue .*): its interval
    variables replaced (1m covers 4 scrapes of the local stack)."""
    return expr.replace("$__rate_interval", "1m").replace("$__interval", "1m").replace("$namespace", ".*")


def results(base: str, expr: str) -> list[dict[str, Any]]:
    status, body = query(base, expr)
    assert status == 200 and body.get("status") == "success", (expr, status, body.get("error"))
    return list(body["data"]["result"])


def board_query(board: str, title: str, legend_hint: str = "") -> str:
    """The PromQL Grafana sends for a panel of a committed dashboard (namespace at All)."""
    found = [e for b, t, e in dashboard_queries() if b == board and t == title and legend_hint in e]
    assert found, (board, title)
    return grafana_to_promql(found[0])


def query(base: str, expr: str) -> tuple[int, dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:  # a query that does not parse answers 400
        return exc.code, json.loads(exc.read() or b"{}")


def wait_for(check: Any, what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Any]:
    """A Prometheus of this test (the stack's component, in a folder of its own), stopped after."""
    sys.path.insert(0, str(REPO / "deploy" / "local"))
    from mailpipe_stack.base import Layout, Ports
    from mailpipe_stack.prometheus import Prometheus

    lay = Layout(state=tmp_path / "state", runtime=tmp_path / "state", cache=tmp_path / "cache")
    (lay.logs).mkdir(parents=True)
    prom = Prometheus(lay, Ports(lay))
    prom.install()
    prom.start()
    try:
        prom.wait_ready()
        yield prom
    finally:
        prom.stop()
        print(f"===== prometheus log\n{prom.log_file.read_text(errors='replace')[-3000:]}")


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.s3
@pytest.mark.imap
@pytest.mark.timeout(300)
def test_every_query_runs_on_a_real_prometheus_scraping_the_services(prometheus: Any, pg_dsn: str, unique: str,
                                                                     tmp_path: Path) -> None:
    from mailpipe.common import admin
    from mailpipe.devtools import mailboxes
    from mailpipe.devtools.processes import free_port, pipeline, stop_all, write_scrape_targets

    from tests.e2e.test_pipeline import CONSUMES, commit_at_end, stored

    stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS")
    admin.create_topics()
    # a few messages through all four stages, so the core series carry data, not only zeros
    user, box, sent = f"obs-{unique}@mailpipe.test", f"obs-{unique}", 3

    def deliver(numbers: range) -> None:
        mailboxes.append(user, [(f"Message-ID: <obs-{n}-{unique}@mailpipe.test>\r\nFrom: Alice <alice@acme.example>"
                                 f"\r\nTo: {user}\r\nSubject: observed {n}\r\nDate: Mon, 5 Oct 2026 10:00:00 +0000"
                                 f"\r\n\r\nhello\r\n").encode() for n in numbers])

    deliver(range(1))  # the rest arrives once Prometheus has seen the counters: rate() needs a "before"
    mailboxes.save_account(pg_dsn, mailboxes.local_account(user, box, poll_interval_seconds=5))
    procs = pipeline({"MAILPIPE_POSTGRES__DSN": pg_dsn}, tmp_path / "logs",
                     {s: free_port() for s in ("fetcher", "parser", "matcher", "storage")})
    try:
        for p in procs.values():
            if p.service in CONSUMES:  # this test's groups start at the end: they consume nothing old
                group = f"obs-{unique}-{p.service}"
                commit_at_end(group, CONSUMES[p.service])
                p.env = {**p.env, "MAILPIPE_RUNTIME__GROUP_ID": group}
            p.start()
        write_scrape_targets(prometheus.targets, f"test-{unique}", procs)

        def scraped() -> bool:
            _, up = query(prometheus.url, 'up{job="mailpipe"} == 1')
            lag = query(prometheus.url, "count by (stage) (mailpipe_runtime_consumer_lag_records)")[1]
            return (len(up["data"]["result"]) == len(procs)
                    and {r["metric"]["stage"] for r in lag["data"]["result"]} == set(CONSUMES))

        wait_for(scraped, "Prometheus to scrape the four services and the three stages' lag", 120)
        wait_for(lambda: stored(pg_dsn, box) == 1, "the first message to be stored", 120)
        time.sleep(5)  # two scrapes (2 s apart) of every counter after the first message
        deliver(range(1, sent))
        wait_for(lambda: stored(pg_dsn, box) == sent, "the messages to be stored", 120)

        # the core series are there and carry the traffic, as the dashboards (namespace All) ask
        # for them: the local stack's series have no namespace label, which =~".*" must match
        for stage in ("fetcher", *CONSUMES):
            assert results(prometheus.url, f'up{{job="mailpipe",service="{stage}"}} == 1'), f"{stage} not up"
        assert {r["metric"]["stage"] for r in results(prometheus.url, board_query(
            "mailpipe-overview.json", "Lag per stage"))} == set(CONSUMES)
        flowing = board_query("mailpipe-overview.json", "Messages per stage", "records_consumed")
        try:
            wait_for(lambda: {r["metric"]["stage"] for r in results(prometheus.url, flowing)
                              if float(r["value"][1]) > 0} == set(CONSUMES),
                     "a consumed-records rate above zero for every stage", 90)
        except AssertionError:
            raw = results(prometheus.url, "mailpipe_runtime_records_consumed_total[5m]")
            raise AssertionError(f"{flowing}: {results(prometheus.url, flowing)}; samples: {raw}") from None
        fetched = board_query("mailpipe-overview.json", "Messages per stage", "messages_fetched")
        assert results(prometheus.url, fetched), fetched

        exprs = [(f"rules: {r.get('alert')}", r["expr"]) for r in rules()]
        exprs += [(f"{board}: {title}", grafana_to_promql(e)) for board, title, e in dashboard_queries()]
        refused = []
        for where, expr in exprs:
            status, body = query(prometheus.url, expr)
            if status != 200 or body.get("status") != "success":
                refused.append((where, expr, status, body.get("error")))
        assert not refused, refused
        assert query(prometheus.url, "not a (query")[0] == 400  # the check can fail

        def evaluated() -> list[dict[str, Any]]:
            with urllib.request.urlopen(f"{prometheus.url}/api/v1/rules", timeout=10) as response:
                loaded = [r for g in json.loads(response.read())["data"]["groups"] for r in g["rules"]]
            # a rule not evaluated yet says 0001-01-01
            return loaded if loaded and all(not r["lastEvaluation"].startswith("0001") for r in loaded) else []

        loaded = wait_for(evaluated, "the rules to be evaluated", 60)
        assert {r["name"] for r in loaded} == {r["alert"] for r in rules()}
        assert [r for r in loaded if r["health"] != "ok"] == []
        print(f"\n{len(exprs)} expressions accepted by Prometheus ({len(rules())} rules, "
              f"{len(exprs) - len(rules())} dashboard queries); {len(loaded)} rules evaluated healthy")
    finally:
        stop_all(procs)
