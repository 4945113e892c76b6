-- The sender (issue 15): a send ledger so nothing is sent twice, each mailbox's sending state, and
-- the copies of sent mail the fetcher appends to the mailbox's Sent-role folder.

-- One row per message to send, keyed by its outbound id (an autoresponse: derived from the email
-- it answers; CRM mail: the request's own id). The Message-ID derives from the id and the exact
-- bytes are kept, so a resend after a crash repeats the same message.
--   status: sending  (leased to one sender until lease_until; an expired lease is resent)
--           sent     (the server accepted it: never sent again)
--           deferred (a 4xx or a connection failure: retried at next_attempt_at)
--           held     (the mailbox's sending is stopped: sent when its configuration changes)
--           refused  (5xx, or deferred too long: dead-lettered with the server's text)
--           suppressed (not sent on purpose: loop protection, rate limit, not permitted)
CREATE TABLE outbound_sends (
    outbound_id     uuid        PRIMARY KEY,
    mailbox_id      text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('autoreply', 'out_of_office', 'crm')),
    recipient       text        NOT NULL,   -- the first recipient, lower-cased: the rate limits count by it
    message_id      text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('sending', 'sent', 'deferred', 'held', 'refused',
                                                           'suppressed')),
    reason          text,                   -- why deferred, held, refused or suppressed (the server's text)
    attempts        integer     NOT NULL DEFAULT 0,
    lease_until     timestamptz,
    next_attempt_at timestamptz,
    envelope_from   text        NOT NULL,   -- '' is the null reverse-path
    recipients      text[]      NOT NULL,
    message         bytea       NOT NULL,
    source_topic    text        NOT NULL,   -- the request, so a retry can dead-letter it like the stage does
    source_partition integer    NOT NULL,
    source_offset   bigint      NOT NULL,
    source_key      bytea,
    source_value    bytea       NOT NULL,
    replayed_from   text,                   -- the dead letter a replay came from (a refused row is tried again once)
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
-- the rate limits count what was sent or is on its way to a recipient, by when it was asked for
CREATE INDEX outbound_sends_recent ON outbound_sends (mailbox_id, recipient, kind, created_at)
    WHERE status IN ('sending', 'sent', 'deferred', 'held');
CREATE INDEX outbound_sends_due ON outbound_sends (next_attempt_at) WHERE status IN ('deferred', 'held', 'sending');
CREATE INDEX outbound_sends_unsettled ON outbound_sends (created_at) WHERE status IN ('deferred', 'held', 'sending');

-- A mailbox whose server refused our configuration (authentication, TLS): its sending stops, with
-- the reason, until an account changes (its own, or the default outbound account it sends through:
-- account_updated is when any account last changed) or `mailpipe sender resume`.
CREATE TABLE sender_mailboxes (
    mailbox_id      text        PRIMARY KEY,
    stopped_reason  text,
    stopped_field   text,
    stopped_at      timestamptz,
    account_updated timestamptz,            -- mailbox_accounts.updated_at when it stopped
    last_sent_at    timestamptz,
    sent_count      bigint      NOT NULL DEFAULT 0
);

-- Sent mail to copy into the mailbox's Sent-role folder (reference 004: sent items synchronised).
-- The fetcher appends them on its next run of the mailbox (it holds the IMAP connection and the
-- mailbox's lease) and records the outcome.
CREATE TABLE sent_copies (
    outbound_id     uuid        PRIMARY KEY REFERENCES outbound_sends (outbound_id) ON DELETE CASCADE,
    mailbox_id      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz,
    outcome         text                    -- appended, already_there, no_sent_folder, pop3
);
CREATE INDEX sent_copies_pending ON sent_copies (mailbox_id) WHERE done_at IS NULL;

-- At most one default outbound account (`mailpipe accounts` says so by name before it saves; this
-- holds it against two saves at once).
CREATE UNIQUE INDEX mailbox_accounts_one_default_outbound ON mailbox_accounts ((true))
    WHERE config->'sending'->>'default_account' = 'true';
