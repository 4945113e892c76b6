-- The email store (issue 6). Extends the skeleton's tables without changing what they already
-- hold, so the readers of 001 (e2e tests, the demo report) keep working. Every column written here
-- comes from the mail.matched record itself (no now()), so a replay writes the same values; except
-- email_sightings.owner_user and team, which come from storage's current view of mail.mailboxes.

-- emails: headers, addresses, dates, body references, classification.
ALTER TABLE emails
    ADD COLUMN in_reply_to            text,
    ADD COLUMN reference_ids          text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN thread_root            text,
    ADD COLUMN reply_to               jsonb       NOT NULL DEFAULT '[]',
    ADD COLUMN sender                 jsonb       NOT NULL DEFAULT '[]',
    ADD COLUMN delivered_to           jsonb       NOT NULL DEFAULT '[]',
    ADD COLUMN date_source            text        NOT NULL DEFAULT 'none',
    ADD COLUMN internal_date          timestamptz,
    ADD COLUMN text_body_truncated    boolean     NOT NULL DEFAULT false,
    ADD COLUMN text_body_ref          text,
    ADD COLUMN html_body              text        NOT NULL DEFAULT '',
    ADD COLUMN html_body_truncated    boolean     NOT NULL DEFAULT false,
    ADD COLUMN html_body_ref          text,
    ADD COLUMN auto_submitted         boolean     NOT NULL DEFAULT false,
    ADD COLUMN auto_submitted_reasons text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN bounce                 jsonb,
    ADD COLUMN task_token             text,
    ADD COLUMN fetch_outcome          text        NOT NULL DEFAULT 'full',
    ADD COLUMN defects                text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN warnings               text[]      NOT NULL DEFAULT '{}',
    -- the mail.matched envelope's time of the first record stored for this email
    ADD COLUMN first_seen_at          timestamptz;
CREATE INDEX emails_sent_at ON emails (sent_at);
CREATE INDEX emails_thread_root ON emails (thread_root) WHERE thread_root IS NOT NULL;
CREATE INDEX emails_message_id ON emails (message_id) WHERE message_id IS NOT NULL;

-- sightings: when, and whose mailbox (owner and team, for the access levels of reference 001).
ALTER TABLE email_sightings
    ADD COLUMN fetched_at    timestamptz,
    ADD COLUMN internal_date timestamptz,
    ADD COLUMN owner_user    text,
    ADD COLUMN team          text;
CREATE INDEX email_sightings_mailbox ON email_sightings (mailbox_id, email_id);
CREATE INDEX email_sightings_owner ON email_sightings (owner_user) WHERE owner_user IS NOT NULL;
CREATE INDEX email_sightings_team ON email_sightings (team) WHERE team IS NOT NULL;

-- participants: every address with its role (the skeleton knew from, to and cc only).
ALTER TABLE email_participants DROP CONSTRAINT email_participants_role_check;
ALTER TABLE email_participants ADD CONSTRAINT email_participants_role_check
    CHECK (role IN ('from', 'to', 'cc', 'bcc', 'sender', 'reply_to', 'delivered_to'));

-- attachments: one row per part of an email, the bytes in S3 by content hash (shared by emails).
CREATE TABLE email_attachments (
    email_id     uuid    NOT NULL REFERENCES emails (email_id) ON DELETE CASCADE,
    position     integer NOT NULL,
    sha256       text    NOT NULL,
    object_key   text    NOT NULL,
    size_bytes   bigint  NOT NULL,
    content_type text    NOT NULL,
    filename     text    NOT NULL,
    disposition  text    NOT NULL,
    content_id   text,
    origin       text    NOT NULL,
    depth        integer NOT NULL,
    PRIMARY KEY (email_id, position)
);
-- retention asks "does anything still reference this object?"
CREATE INDEX email_attachments_object ON email_attachments (object_key);

-- copies of attachments into CRM folders (reference 000, "Copy files to"): what was copied where.
-- One destination key per (target, folder, name, content); a second file with the same name and
-- other bytes gets the content hash in its name (see docs/storage.md).
CREATE TABLE file_copies (
    target_type text NOT NULL CHECK (target_type IN ('task', 'company')),
    target_id   text NOT NULL,
    folder      text NOT NULL,
    filename    text NOT NULL,
    sha256      text NOT NULL,
    source_key  text NOT NULL,
    dest_key    text NOT NULL UNIQUE,
    email_id    uuid NOT NULL REFERENCES emails (email_id) ON DELETE CASCADE,
    PRIMARY KEY (target_type, target_id, folder, filename, sha256)
);
CREATE INDEX file_copies_email ON file_copies (email_id);
