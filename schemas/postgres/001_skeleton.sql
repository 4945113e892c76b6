-- The walking skeleton's tables. Every write is an upsert keyed by deterministic ids, so a replay
-- of any topic from offset zero leaves the same rows.

CREATE TABLE fetch_cursors (
    mailbox_id  text        NOT NULL,
    folder      text        NOT NULL,
    uidvalidity bigint      NOT NULL,
    last_uid    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mailbox_id, folder)
);

CREATE TABLE emails (
    email_id     uuid PRIMARY KEY,
    message_id   text,
    subject      text        NOT NULL DEFAULT '',
    from_address text,
    from_name    text,
    sent_at      timestamptz,
    size_bytes   bigint      NOT NULL,
    sha256       text        NOT NULL,
    raw_ref      text,
    text_body    text        NOT NULL DEFAULT '',
    stored_at    timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per copy seen on a server: the same email in two mailboxes is one email, two sightings.
CREATE TABLE email_sightings (
    mailbox_id  text   NOT NULL,
    folder      text   NOT NULL,
    uidvalidity bigint NOT NULL,
    uid         bigint NOT NULL,
    email_id    uuid   NOT NULL REFERENCES emails (email_id) ON DELETE CASCADE,
    PRIMARY KEY (mailbox_id, folder, uidvalidity, uid)
);
CREATE INDEX email_sightings_email ON email_sightings (email_id);

CREATE TABLE email_participants (
    email_id uuid NOT NULL REFERENCES emails (email_id) ON DELETE CASCADE,
    role     text NOT NULL CHECK (role IN ('from', 'to', 'cc')),
    address  text NOT NULL,
    name     text NOT NULL DEFAULT '',
    PRIMARY KEY (email_id, role, address)
);
CREATE INDEX email_participants_address ON email_participants (address);

CREATE TABLE email_links (
    email_id    uuid NOT NULL REFERENCES emails (email_id) ON DELETE CASCADE,
    entity_type text NOT NULL,
    entity_id   text NOT NULL,
    reason      text NOT NULL,
    PRIMARY KEY (email_id, entity_type, entity_id)
);
CREATE INDEX email_links_entity ON email_links (entity_type, entity_id);
