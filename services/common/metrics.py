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
CONSUMER_LAG = Gauge("mailpipe_runtime_consumer_lag_records",
                     "Records on an assigned partition not yet taken by this consumer (end offset minus "
                     "position), refreshed every few seconds; partition numbers are a closed set per topic",
                     ["stage", "topic", "partition"])
DEPENDENCIES = ("kafka", "postgres", "s3", "imap", "smtp", "unknown")
DEPENDENCY_RETRIES = Counter("mailpipe_runtime_dependency_retries",
                             "Retries of a transient failure, by the dependency that failed (kafka, postgres, "
                             "s3, imap, smtp, unknown)", ["stage", "dependency"])
BATCH_SECONDS = Histogram("mailpipe_runtime_batch_duration_seconds", "Time to handle, flush and commit a batch",
                          ["stage"], buckets=(0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

# fetcher (label values: protocol imap|pop3; kind auth|tls|timeout|protocol|connection|other; outcome from
# the ledger's closed set)
FETCHED_MESSAGES = Counter("mailpipe_fetcher_messages_fetched", "Messages fetched and acknowledged by Kafka",
                           ["protocol"])
FETCHED_BYTES = Counter("mailpipe_fetcher_fetched_bytes", "Bytes of messages fetched", ["protocol"])
POLL_SECONDS = Histogram("mailpipe_fetcher_poll_duration_seconds", "Time of one run over one mailbox", ["protocol"],
                         buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
FETCH_ERRORS = Counter("mailpipe_fetcher_errors", "Mailbox runs that failed, by kind of failure", ["kind"])
CLAIM_CHECKS = Counter("mailpipe_fetcher_claim_checks", "Raw messages stored in S3 instead of on the topic")
LEDGER_OUTCOMES = Counter("mailpipe_fetcher_ledger_outcomes", "Messages recorded in the ledger, by outcome",
                          ["outcome"])
UNFETCHED = Gauge("mailpipe_fetcher_unfetched_messages",
                  "Messages on the servers not fetched yet (UIDNEXT minus cursor, summed over every folder of "
                  "every enabled mailbox; each replica reports the fleet-wide figure, aggregate with max)")
LAST_SUCCESS = Gauge("mailpipe_fetcher_last_success_timestamp_seconds",
                     "When this replica last finished a mailbox run without error (Unix time)")
SECONDS_SINCE_SUCCESS = Gauge("mailpipe_fetcher_seconds_since_last_success",
                              "Seconds since this replica last finished a mailbox run without error")
LEASES_HELD = Gauge("mailpipe_fetcher_leases_held", "Mailbox leases this replica holds now")
LEASE_TAKEOVERS = Counter("mailpipe_fetcher_lease_takeovers", "Expired leases of other replicas taken over")
LEASES_LOST = Counter("mailpipe_fetcher_leases_lost", "Runs stopped because the lease was lost")
IDLE_CONNECTIONS = Gauge("mailpipe_fetcher_idle_connections", "IMAP IDLE connections this replica holds open")
MAILBOXES_FAILING = Gauge("mailpipe_fetcher_mailboxes_failing",
                          "Enabled mailboxes whose last run failed and that are backing off (fleet-wide figure "
                          "from PostgreSQL, as unfetched messages: aggregate with max)")
PUSH_MAILBOXES = Gauge("mailpipe_fetcher_push_mailboxes",
                       "Enabled push mailboxes, each of which should hold one IMAP IDLE connection (fleet-wide "
                       "figure from PostgreSQL: aggregate with max, compare with the sum of idle connections)")
MAILBOXES_OVERDUE = Gauge("mailpipe_fetcher_mailboxes_overdue",
                          "Enabled polling (not push) mailboxes whose last successful run is older than "
                          "OVERDUE_POLL_INTERVALS of their own poll interval (fleet-wide figure from "
                          "PostgreSQL: aggregate with max)")
OVERDUE_POLL_INTERVALS = 3  # missed polls before a mailbox counts as overdue: one slow run or restart is not
IDLE_WAKEUPS = Counter("mailpipe_fetcher_idle_wakeups", "IDLE notifications that started a fetch")

# parser (label values: defect from the stdlib email.errors class names; warning and outcome from the
# parser's closed sets in mailpipe.parser.mime)
PARSED = Counter("mailpipe_parser_emails_parsed", "Emails parsed")
DEFECTS = Counter("mailpipe_parser_defects", "MIME defects found, by stdlib defect class", ["defect"])
PARSE_WARNINGS = Counter("mailpipe_parser_warnings", "Things the parser worked around (charset detected, "
                         "unreadable TNEF, body truncated)", ["warning"])
PARSE_OUTCOMES = Counter("mailpipe_parser_fetch_outcomes", "Emails parsed, by what the fetcher sent "
                         "(full message or header block only)", ["outcome"])
ATTACHMENTS = Counter("mailpipe_parser_attachments", "Attachments found (including files unpacked from TNEF)")
ATTACHMENT_BYTES = Counter("mailpipe_parser_attachment_bytes", "Decoded bytes of attachments found")
OBJECTS_WRITTEN = Counter("mailpipe_parser_objects_written", "Objects written to S3 (content already there: not "
                          "counted)")
PARSE_SECONDS = Histogram("mailpipe_parser_parse_duration_seconds", "Time to parse one email (pure parse, no I/O)",
                          buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))

# matcher
LINKS = Counter("mailpipe_matcher_links", "Links made, by entity type and rule", ["entity_type", "reason"])
DIRECTORY_ENTITIES = Gauge("mailpipe_matcher_directory_entities", "Entities in the in-memory directory")
MATCH_ACTIONS = Counter("mailpipe_matcher_actions", "Actions decided (case created/joined/held, lead, autoreply, "
                        "files, skipped), by kind", ["kind"])
KEYS_DIGESTED = Counter("mailpipe_matcher_keys_digested", "State keys over the size an index holds, stored by "
                        "their digest (identity.bounded_key), by kind", ["kind"])
DECISIONS_REPLAYED = Counter("mailpipe_matcher_decisions_replayed", "Emails whose stored decision was repeated "
                             "(a replay after a crash or rebalance) instead of deciding again")

# storage
EMAILS_STORED = Counter("mailpipe_storage_emails_written", "Emails upserted into PostgreSQL")
STORAGE_DUPLICATES_MERGED = Counter("mailpipe_storage_duplicates_merged",
                                    "Records whose email was already stored (another mailbox, a replay): "
                                    "only the sighting, links and copies were merged")
STORAGE_FILES_COPIED = Counter("mailpipe_storage_files_copied", "Attachments copied to a task or company folder")
STORAGE_FILES_SKIPPED = Counter("mailpipe_storage_files_skipped",
                                "Attachments not copied, by the rule that kept each out (closed set: "
                                "mailpipe.storage.files.SKIP_REASONS)", ["reason"])
STORAGE_TRANSACTION_SECONDS = Histogram("mailpipe_storage_transaction_duration_seconds",
                                        "Time of one write transaction (a batch of emails, committed before "
                                        "the batch's offsets)",
                                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5))
STORAGE_TRANSACTION_RECORDS = Histogram("mailpipe_storage_transaction_records",
                                        "Records written by one write transaction",
                                        buckets=(1, 5, 10, 25, 50, 100, 200, 500, 1000))
STORAGE_RETENTION_DELETIONS = Counter("mailpipe_storage_retention_deletions",
                                      "Rows and objects deleted by retention, by kind "
                                      "(sighting, email, attachment, object)", ["kind"])

# sender (label values: kind autoreply|out_of_office|crm; reason from SmtpFailure's closed set, or the
# suppression and hold reasons of services/sender)
SENDER_SENT = Counter("mailpipe_sender_messages_sent", "Messages the SMTP server accepted", ["kind"])
SENDER_DEFERRED = Counter("mailpipe_sender_messages_deferred",
                          "Send attempts that failed for now (4xx, connection) and will be retried", ["reason"])
SENDER_REFUSED = Counter("mailpipe_sender_messages_refused",
                         "Messages refused for good (5xx, retries expired) and dead-lettered", ["reason"])
SENDER_HELD = Counter("mailpipe_sender_messages_held",
                      "Messages held because their mailbox's sending is stopped (authentication, TLS, no "
                      "server)", ["reason"])
SENDER_SUPPRESSED = Counter("mailpipe_sender_messages_suppressed",
                            "Autoresponses not sent on purpose (loop protection, rate limit)", ["reason"])
SENDER_SEND_SECONDS = Histogram("mailpipe_sender_send_duration_seconds",
                                "Time of one send: connect, TLS, AUTH and DATA",
                                buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
SENDER_MAILBOXES_STOPPED = Gauge("mailpipe_sender_mailboxes_stopped",
                                 "Mailboxes whose sending is stopped until their account is fixed")
SENDER_QUEUED = Gauge("mailpipe_sender_queued_messages", "Messages waiting in the send ledger", ["status"])
