"""mailpipe's Grafana dashboards as code (grafana-foundation-sdk), written to dashboards/*.json.

    python deploy/observability/dashboards.py          # regenerate the committed JSON
    python deploy/observability/dashboards.py --check  # exit 1 when the committed JSON drifted

Runs in the deploy tools' venv (deploy/observability/tools/venv.sh). The lint rules (datasource
variable, $__rate_interval, units, descriptions, no overlapping panels, known metric names) and the
check of every query against a real Prometheus are in tests/deploy/test_observability.py.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableOption, VariableRefresh, VariableSort

OUT = Path(__file__).resolve().parent / "dashboards"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
RI = "$__rate_interval"
STAGES = ("parser", "matcher", "storage", "sender")  # the consuming stages (the fetcher reads mailboxes)
Query = tuple[str, str]  # (PromQL, legend)
# Several releases may share one Prometheus: every series selector is filtered by the namespace
# variable. Its All is the regex .*, which also matches a series with no namespace label (the local
# stack's scrape adds none): an empty label value matches .* but not .+
NAMESPACE = 'namespace=~"$namespace"'
SERIES = re.compile(r"\b(?:mailpipe_[a-z0-9_]+|process_[a-z0-9_]+|up)\b(?!\s*\()(\{[^}]*\})?")


def scoped(expr: str) -> str:
    """``expr`` with the namespace filter added to every series selector."""
    def add(m: re.Match[str]) -> str:
        name = m.group(0)[: len(m.group(0)) - len(m.group(1) or "")]
        inner = (m.group(1) or "{}")[1:-1].strip()
        return f"{name}{{{NAMESPACE}{', ' + inner if inner else ''}}}"
    return SERIES.sub(add, expr)


def fleet(gauge: str) -> str:
    """A fleet-wide figure every fetcher replica reports alike: one per namespace, then summed (All)."""
    return f"sum(max by (namespace) ({gauge}))"


def rate(metric: str, by: str = "", selector: str = "") -> str:
    grouping = f"sum by ({by}) " if by else "sum "
    return f"{grouping}(rate({metric}{_braced(selector)}[{RI}]))"


def quantile(q: float, histogram: str, by: str = "", selector: str = "") -> str:
    keys = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({keys}) (rate({histogram}_bucket{_braced(selector)}[{RI}])))"


def _braced(selector: str) -> str:
    return f"{{{selector}}}" if selector else ""


def graph(title: str, description: str, unit: str, *queries: Query, width: int = 8) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).description(description).unit(unit).datasource(DS)
             .span(width).height(8).fill_opacity(10).min(0))
    for ref, (expr, legend) in zip("ABCDEFGH", queries, strict=False):
        panel.with_target(prometheus.Dataquery().expr(scoped(expr)).legend_format(legend).ref_id(ref).datasource(DS))
    return panel


def single(title: str, description: str, unit: str, expr: str, width: int = 4) -> stat.Panel:
    return (stat.Panel().title(title).description(description).unit(unit).datasource(DS).span(width).height(4)
            .with_target(prometheus.Dataquery().expr(scoped(expr)).instant().ref_id("A").datasource(DS)))


def base(uid: str, title: str, description: str) -> db.Dashboard:
    return (db.Dashboard(title).uid(uid).description(description).tags(["mailpipe"]).refresh("30s")
            .time("now-3h", "now").timezone("utc").editable()
            .with_variable(db.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
            .with_variable(db.QueryVariable("namespace").label("Namespace").datasource(DS)
                           .description("The releases shown (several may share one Prometheus)")
                           .query('label_values(up{job="mailpipe"}, namespace)')
                           .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC)
                           .multi(True).include_all(True).all_value(".*")
                           .current(VariableOption(selected=True, text="All", value="$__all"))))


def runtime_panels(stage: str) -> list[timeseries.Panel]:
    """What every consuming stage shows: throughput, lag, dead letters, batches, retries."""
    sel = f'stage="{stage}"'
    return [
        graph("Records in and out", "Records taken from the input topic and records produced, per second",
              "ops", (rate("mailpipe_runtime_records_consumed_total", selector=sel), "consumed"),
              (rate("mailpipe_runtime_records_produced_total", "topic", sel), "to {{topic}}")),
        graph("Lag per partition", "Records of each input partition not taken yet (reported by the consumer "
              "every few seconds)", "short",
              (f"sum by (topic, partition) (mailpipe_runtime_consumer_lag_records{{{sel}}})",
               "{{topic}}/{{partition}}")),
        graph("Dead letters by reason", "Records sent to the dead-letter topic per second, by reason", "ops",
              (rate("mailpipe_runtime_dead_letters_total", "reason", sel), "{{reason}}")),
        graph("Batch duration", "Time to handle, flush and commit one batch", "s",
              (quantile(0.5, "mailpipe_runtime_batch_duration_seconds", selector=sel), "p50"),
              (quantile(0.95, "mailpipe_runtime_batch_duration_seconds", selector=sel), "p95")),
        graph("Retries by dependency", "Retries of transient failures per second, by the dependency that "
              "failed; when they run out the stage exits without committing", "ops",
              (rate("mailpipe_runtime_dependency_retries_total", "dependency", sel), "{{dependency}}")),
        graph("Commits", "Offset commits per second", "ops",
              (rate("mailpipe_runtime_commits_total", selector=sel), "commits")),
    ]


def process_panels(service: str) -> list[timeseries.Panel]:
    sel = f'job="mailpipe", service="{service}"'
    return [
        graph("Up", "1 when Prometheus scraped the replica's /metrics", "short",
              (f"up{{{sel}}}", "{{instance}}")),
        graph("CPU", "CPU seconds per second, per replica", "percentunit",
              (f"sum by (instance) (rate(process_cpu_seconds_total{{{sel}}}[{RI}]))", "{{instance}}")),
        graph("Memory", "Resident memory per replica", "bytes",
              (f"process_resident_memory_bytes{{{sel}}}", "{{instance}}")),
    ]


def overview() -> db.Dashboard:
    d = base("mailpipe-overview", "mailpipe / Overview", "The whole pipeline: flow, lag, failures, fetching")
    d.with_row(db.Row("Flow"))
    for panel in [
        graph("Messages per stage", "Messages each stage handles per second (fetcher: fetched and acknowledged "
              "by Kafka)", "ops", (rate("mailpipe_fetcher_messages_fetched_total"), "fetcher"),
              (rate("mailpipe_runtime_records_consumed_total", "stage"), "{{stage}}")),
        graph("Lag per stage", "Records waiting in each stage's input topic (sum over partitions)", "short",
              ("sum by (stage, topic) (mailpipe_runtime_consumer_lag_records)", "{{stage}} ← {{topic}}")),
        graph("Dead letters by reason", "Records dead-lettered per second, by stage and reason", "ops",
              (rate("mailpipe_runtime_dead_letters_total", "stage, reason"), "{{stage}}: {{reason}}")),
        graph("Mailbox errors by kind", "Mailbox runs that failed per second, by kind (auth, tls, timeout, "
              "protocol, connection, other)", "ops", (rate("mailpipe_fetcher_errors_total", "kind"), "{{kind}}")),
        graph("Fetch latency", "Duration of one run over one mailbox", "s",
              (quantile(0.5, "mailpipe_fetcher_poll_duration_seconds"), "p50"),
              (quantile(0.95, "mailpipe_fetcher_poll_duration_seconds"), "p95")),
        graph("Unfetched mail", "Messages on the servers not fetched yet (fleet-wide)", "short",
              (fleet("mailpipe_fetcher_unfetched_messages"), "unfetched")),
    ]:
        d.with_panel(panel)
    d.with_row(db.Row("Mailboxes and dependencies"))
    for panel in [
        graph("IDLE connections", "IMAP IDLE connections open, and the enabled push mailboxes that should "
              "each hold one", "short", ("sum(mailpipe_fetcher_idle_connections)", "open"),
              (fleet("mailpipe_fetcher_push_mailboxes"), "push mailboxes")),
        graph("Failing mailboxes", "Enabled mailboxes backing off after a failure", "short",
              (fleet("mailpipe_fetcher_mailboxes_failing"), "failing")),
        graph("Batch duration (p95)", "95th percentile time to handle, flush and commit a batch, per stage", "s",
              (quantile(0.95, "mailpipe_runtime_batch_duration_seconds", "stage"), "{{stage}}")),
        graph("PostgreSQL and S3 retries", "Retries of transient failures per second, by dependency", "ops",
              (rate("mailpipe_runtime_dependency_retries_total", "dependency",
                    'dependency=~"postgres|s3"'), "{{dependency}}"),
              (rate("mailpipe_runtime_dependency_retries_total", "dependency",
                    'dependency!~"postgres|s3"'), "{{dependency}}")),
        graph("Replicas up", "Replicas answering /metrics, per service", "short",
              ('sum by (service) (up{job="mailpipe"})', "{{service}}")),
    ]:
        d.with_panel(panel)
    return d


SERVICE_PANELS: dict[str, list[timeseries.Panel]] = {
    "fetcher": [
        graph("Messages fetched", "Messages fetched and acknowledged by Kafka per second", "ops",
              (rate("mailpipe_fetcher_messages_fetched_total", "protocol"), "{{protocol}}")),
        graph("Bytes fetched", "Bytes of messages fetched per second", "Bps",
              (rate("mailpipe_fetcher_fetched_bytes_total", "protocol"), "{{protocol}}")),
        graph("Run duration (p95)", "95th percentile of one run over one mailbox", "s",
              (quantile(0.95, "mailpipe_fetcher_poll_duration_seconds", "protocol"), "{{protocol}}")),
        graph("Errors by kind", "Mailbox runs that failed per second, by kind", "ops",
              (rate("mailpipe_fetcher_errors_total", "kind"), "{{kind}}")),
        graph("Ledger outcomes", "Messages recorded in the ledger per second, by outcome", "ops",
              (rate("mailpipe_fetcher_ledger_outcomes_total", "outcome"), "{{outcome}}")),
        graph("Claim-checks", "Raw messages stored in S3 instead of on the topic, per second", "ops",
              (rate("mailpipe_fetcher_claim_checks_total"), "claim-checked")),
        graph("Leases", "Mailbox leases held, taken over and lost", "short",
              ("sum(mailpipe_fetcher_leases_held)", "held"),
              (f"sum(increase(mailpipe_fetcher_lease_takeovers_total[{RI}]))", "taken over"),
              (f"sum(increase(mailpipe_fetcher_leases_lost_total[{RI}]))", "lost")),
        graph("IDLE", "IDLE connections open and notifications that started a fetch", "short",
              ("sum(mailpipe_fetcher_idle_connections)", "connections"),
              (f"sum(increase(mailpipe_fetcher_idle_wakeups_total[{RI}]))", "wake-ups")),
        graph("Backlog and failures", "Unfetched messages and failing mailboxes (fleet-wide)", "short",
              (fleet("mailpipe_fetcher_unfetched_messages"), "unfetched"),
              (fleet("mailpipe_fetcher_mailboxes_failing"), "failing mailboxes"),
              (fleet("mailpipe_fetcher_mailboxes_overdue"), "overdue mailboxes")),
        graph("Since last success", "Seconds since each replica last finished a mailbox run without error", "s",
              ("mailpipe_fetcher_seconds_since_last_success", "{{instance}}")),
    ],
    "parser": [
        graph("Parse duration", "Time to parse one email (pure parse, no I/O)", "s",
              (quantile(0.5, "mailpipe_parser_parse_duration_seconds"), "p50"),
              (quantile(0.95, "mailpipe_parser_parse_duration_seconds"), "p95")),
        graph("Defects", "MIME defects found per second, by stdlib defect class", "ops",
              (rate("mailpipe_parser_defects_total", "defect"), "{{defect}}")),
        graph("Warnings and fetch outcomes", "Things worked around, and emails by what the fetcher sent", "ops",
              (rate("mailpipe_parser_warnings_total", "warning"), "{{warning}}"),
              (rate("mailpipe_parser_fetch_outcomes_total", "outcome"), "{{outcome}}")),
        graph("Attachments", "Attachments found and objects written to S3 per second", "ops",
              (rate("mailpipe_parser_attachments_total"), "found"),
              (rate("mailpipe_parser_objects_written_total"), "written to S3")),
        graph("Attachment bytes", "Decoded bytes of attachments per second", "Bps",
              (rate("mailpipe_parser_attachment_bytes_total"), "bytes")),
        graph("Emails parsed", "Emails parsed per second", "ops",
              (rate("mailpipe_parser_emails_parsed_total"), "parsed")),
    ],
    "matcher": [
        graph("Links", "Links made per second, by entity type and rule", "ops",
              (rate("mailpipe_matcher_links_total", "entity_type, reason"), "{{entity_type}}: {{reason}}")),
        graph("Actions", "Actions decided per second, by kind", "ops",
              (rate("mailpipe_matcher_actions_total", "kind"), "{{kind}}")),
        graph("Directory", "Entities in the in-memory CRM directory, per replica", "short",
              ("mailpipe_matcher_directory_entities", "{{instance}}")),
        graph("Replays and digested keys", "Stored decisions repeated, and state keys stored by digest", "ops",
              (rate("mailpipe_matcher_decisions_replayed_total"), "decisions replayed"),
              (rate("mailpipe_matcher_keys_digested_total", "kind"), "digested: {{kind}}")),
    ],
    "storage": [
        graph("Emails written", "Emails upserted and duplicates merged per second", "ops",
              (rate("mailpipe_storage_emails_written_total"), "written"),
              (rate("mailpipe_storage_duplicates_merged_total"), "merged")),
        graph("Transaction duration", "Time of one write transaction", "s",
              (quantile(0.5, "mailpipe_storage_transaction_duration_seconds"), "p50"),
              (quantile(0.95, "mailpipe_storage_transaction_duration_seconds"), "p95")),
        graph("Records per transaction", "Records written by one transaction (median)", "short",
              (quantile(0.5, "mailpipe_storage_transaction_records"), "p50")),
        graph("File copies", "Attachments copied, and skipped by rule, per second", "ops",
              (rate("mailpipe_storage_files_copied_total"), "copied"),
              (rate("mailpipe_storage_files_skipped_total", "reason"), "skipped: {{reason}}")),
        graph("Retention", "Rows and objects deleted by retention per second, by kind", "ops",
              (rate("mailpipe_storage_retention_deletions_total", "kind"), "{{kind}}")),
    ],
    "sender": [
        graph("Sent", "Messages the SMTP servers accepted per second, by kind", "ops",
              (rate("mailpipe_sender_messages_sent_total", "kind"), "{{kind}}")),
        graph("Not sent now", "Sends deferred (4xx, connection), held (mailbox stopped) and refused (5xx, "
              "expired; dead-lettered) per second, by reason", "ops",
              (rate("mailpipe_sender_messages_deferred_total", "reason"), "deferred: {{reason}}"),
              (rate("mailpipe_sender_messages_held_total", "reason"), "held: {{reason}}"),
              (rate("mailpipe_sender_messages_refused_total", "reason"), "refused: {{reason}}")),
        graph("Suppressed", "Autoresponses not sent on purpose per second (loop protection, rate limits)", "ops",
              (rate("mailpipe_sender_messages_suppressed_total", "reason"), "{{reason}}")),
        graph("Send duration", "Time of one send: connect, TLS, AUTH and DATA", "s",
              (quantile(0.5, "mailpipe_sender_send_duration_seconds"), "p50"),
              (quantile(0.95, "mailpipe_sender_send_duration_seconds"), "p95")),
        graph("Queue and stopped mailboxes", "Messages waiting in the send ledger, and mailboxes whose sending "
              "is stopped (fleet-wide)", "short",
              ("sum by (status) (max by (namespace, status) (mailpipe_sender_queued_messages))", "{{status}}"),
              (fleet("mailpipe_sender_mailboxes_stopped"), "stopped mailboxes")),
    ],
}


def service(name: str) -> db.Dashboard:
    d = base(f"mailpipe-{name}", f"mailpipe / {name}", f"The {name} service: its own work, then the runtime "
             "and the process")
    d.with_panel(single("Replicas up", "Replicas answering /metrics", "short",
                        f'sum(up{{job="mailpipe", service="{name}"}})'))
    if name in STAGES:
        d.with_panel(single("Lag", "Records waiting in the input topic", "short",
                            f'sum(mailpipe_runtime_consumer_lag_records{{stage="{name}"}})'))
    d.with_row(db.Row(name))
    for panel in SERVICE_PANELS[name]:
        d.with_panel(panel)
    if name in STAGES:
        d.with_row(db.Row("Consumer runtime"))
        for panel in runtime_panels(name):
            d.with_panel(panel)
    d.with_row(db.Row("Process"))
    for panel in process_panels(name):
        d.with_panel(panel)
    return d


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    boards = [overview(), *(service(name) for name in SERVICE_PANELS)]
    out = {}
    for board in boards:
        built = board.build()
        out[f"{built.uid}.json"] = json.dumps(built, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
    return out


def main(argv: list[str]) -> int:
    rendered = render()
    if "--check" in argv:
        present = {p.name: p.read_text() for p in OUT.glob("*.json")}
        drifted = sorted(n for n in rendered.keys() | present.keys() if rendered.get(n) != present.get(n))
        if drifted:
            print("dashboards drifted from deploy/observability/dashboards.py: " + ", ".join(drifted)
                  + " (run it to regenerate)", file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(exist_ok=True)
    for stale in OUT.glob("*.json"):
        if stale.name not in rendered:
            stale.unlink()
    for name, text in rendered.items():
        (OUT / name).write_text(text)
    print(f"wrote {len(rendered)} dashboards to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
