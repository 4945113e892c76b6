-- The fetcher's state: accounts with encrypted secrets, per-mailbox scheduling and leases, the
-- per-message ledger, POP3 UIDL sets, and an audit of runs.

CREATE TABLE secrets_key_check (
    id    smallint PRIMARY KEY CHECK (id = 1),
    token bytea    NOT NULL
);

CREATE TABLE mailbox_accounts (
    mailbox_id text        PRIMARY KEY,
    config     jsonb       NOT NULL,   -- the account without secrets (fetcher.accounts.model.Account)
    secrets    bytea       NOT NULL,   -- Fernet token of the secrets; never stored in clear
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Scheduling across replicas. A replica claims due, unleased (or expired) rows with
-- FOR UPDATE SKIP LOCKED; lease_generation fences a replica whose lease was taken over.
CREATE TABLE mailbox_schedule (
    mailbox_id        text        PRIMARY KEY REFERENCES mailbox_accounts (mailbox_id) ON DELETE CASCADE,
    next_run_at       timestamptz NOT NULL DEFAULT now(),
    lease_owner       text,
    lease_expires_at  timestamptz,
    lease_generation  bigint      NOT NULL DEFAULT 0,
    failures          integer     NOT NULL DEFAULT 0,
    last_error_kind   text,
    last_error        text,
    last_error_at     timestamptz,
    last_success_at   timestamptz
);
CREATE INDEX mailbox_schedule_due ON mailbox_schedule (next_run_at);

ALTER TABLE fetch_cursors
    ADD COLUMN last_date      timestamptz,
    ADD COLUMN server_uidnext bigint;

-- One row per message the fetcher handled: what it was and what became of it.
CREATE TABLE fetch_ledger (
    mailbox_id    text        NOT NULL,
    folder        text        NOT NULL,
    uidvalidity   bigint      NOT NULL,
    uid           bigint      NOT NULL,
    message_id    text,
    size_bytes    bigint      NOT NULL,
    internal_date timestamptz,
    sha256        text,
    outcome       text        NOT NULL CHECK (outcome IN ('published', 'claim_checked', 'headers_only')),
    reason        text,
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mailbox_id, folder, uidvalidity, uid)
);
CREATE INDEX fetch_ledger_date ON fetch_ledger (mailbox_id, internal_date);

-- POP3 has no UIDs that survive sessions in order; the set of UIDLs already published is the state.
CREATE TABLE pop3_uidls (
    mailbox_id text NOT NULL,
    uidl       text NOT NULL,
    PRIMARY KEY (mailbox_id, uidl)
);

-- Every run of a replica over a mailbox, for operators and for the "never two at once" guarantee.
CREATE TABLE fetch_runs (
    run_id           bigserial   PRIMARY KEY,
    mailbox_id       text        NOT NULL,
    replica          text        NOT NULL,
    lease_generation bigint      NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at         timestamptz,
    outcome          text,
    messages         integer     NOT NULL DEFAULT 0
);
CREATE INDEX fetch_runs_mailbox ON fetch_runs (mailbox_id, started_at);
