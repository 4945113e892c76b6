-- The matcher's state (issue 5), written in the same transaction as each email's decision, so a
-- crash anywhere replays into the same result: a replayed email reads its stored decision back.

-- One row per mailbox: the lock that serialises decisions of a mailbox across replicas, and the
-- round-robin position.
CREATE TABLE matcher_mailbox_state (
    mailbox_id           text   PRIMARY KEY,
    round_robin_position bigint NOT NULL DEFAULT 0
);

-- What was decided for an email in a mailbox: links, actions, skip reason, autoresponse.
CREATE TABLE matcher_decisions (
    mailbox_id text        NOT NULL,
    email_id   uuid        NOT NULL,
    decision   jsonb       NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mailbox_id, email_id)
);

-- The thread index: a Message-ID or thread root → the case, task and lead links of its emails.
-- Not partitioned by mailbox: replies arrive at other mailboxes.
CREATE TABLE matcher_threads (
    key         text NOT NULL,
    entity_type text NOT NULL CHECK (entity_type IN ('case', 'task', 'lead')),
    entity_id   text NOT NULL,
    mailbox_id  text NOT NULL,
    PRIMARY KEY (key, entity_type, entity_id)
);

-- Cases the matcher created: one per (mailbox, thread root).
CREATE TABLE matcher_cases (
    case_id     text        PRIMARY KEY,
    mailbox_id  text        NOT NULL,
    thread_root text        NOT NULL,
    number      text        NOT NULL,
    assignee    text,
    team        text,
    sender      text        NOT NULL DEFAULT '',
    created_by  uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (mailbox_id, thread_root)
);
CREATE INDEX matcher_cases_assignee ON matcher_cases (mailbox_id, assignee);

-- Leads the matcher created: one per sender per mailbox.
CREATE TABLE matcher_leads (
    mailbox_id text NOT NULL,
    sender     text NOT NULL,
    lead_id    text NOT NULL,
    PRIMARY KEY (mailbox_id, sender)
);

-- Autoresponses sent and cases opened per sender, for the rate limits (2-hour windows).
CREATE TABLE matcher_sender_events (
    mailbox_id text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('autoreply', 'case')),
    email_id   uuid        NOT NULL,
    sender     text        NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (mailbox_id, kind, email_id)
);
CREATE INDEX matcher_sender_events_window ON matcher_sender_events (mailbox_id, kind, sender, at);
