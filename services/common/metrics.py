"""The metrics catalogue: every Prometheus metric mailpipe exports, in one place.

Names follow ``mailpipe_<subsystem>_<name>_<unit>``; counters are declared without ``_total``
(the client adds it). Label values come from closed sets only: stage names, topic names,
reason tokens — never addresses, ids or filenames.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# runtime (every consuming stage)
RECORDS_CONSUMED = Counter("mailpipe_runtime_records_consumed", "Records taken from the input topic", ["stage"])
RECORDS_PRODUCED = Counter("mailpipe_runtime_records_produced", "Records produced", ["stage", "topic"])
DEAD_LETTERS = Counter("mailpipe_runtime_dead_letters", "Records sent to a dead-letter topic", ["stage", "reason"])
RETRIES = Counter("mailpipe_runtime_retries", "Retries of a transient failure", ["stage"])
COMMITS = Counter("mailpipe_runtime_commits", "Offset commits", ["stage"])
PAUSES = Counter("mailpipe_runtime_backpressure_pauses", "Times consumption paused on backpressure", ["stage"])
BATCH_SECONDS = Histogram("mailpipe_runtime_batch_duration_seconds", "Time to handle, flush and commit a batch",
                          ["stage"], buckets=(0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

# fetcher
FETCHED_MESSAGES = Counter("mailpipe_fetcher_messages_fetched", "Messages fetched and acknowledged by Kafka",
                           ["protocol"])
FETCHED_BYTES = Counter("mailpipe_fetcher_fetched_bytes", "Bytes of messages fetched", ["protocol"])
POLL_SECONDS = Histogram("mailpipe_fetcher_poll_duration_seconds", "Time of one poll of one mailbox", ["protocol"])
FETCH_ERRORS = Counter("mailpipe_fetcher_errors", "Mailbox polls that failed", ["kind"])
CLAIM_CHECKS = Counter("mailpipe_fetcher_claim_checks", "Raw messages stored in S3 instead of on the topic")

# parser
PARSED = Counter("mailpipe_parser_emails_parsed", "Emails parsed")
DEFECTS = Counter("mailpipe_parser_defects", "MIME defects found, by stdlib defect class", ["defect"])

# matcher
LINKS = Counter("mailpipe_matcher_links", "Links made, by entity type and rule", ["entity_type", "reason"])
DIRECTORY_ENTITIES = Gauge("mailpipe_matcher_directory_entities", "Entities in the in-memory directory")

# storage
EMAILS_STORED = Counter("mailpipe_storage_emails_written", "Emails upserted into PostgreSQL")
