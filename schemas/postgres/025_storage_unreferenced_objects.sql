-- Objects no stored email references (issue 14: attachments, long bodies and claim-checked raw
-- messages of mail the matcher skipped or a stage dead-lettered). Retention lists the object
-- prefixes in S3 page by page; a key no row references is noted here with the time it was first
-- seen unreferenced, and removed from S3 once it stayed unreferenced for the grace period
-- (MAILPIPE_STORAGE__UNREFERENCED_GRACE_SECONDS). See docs/storage.md, "Objects of mail never stored".
CREATE TABLE retention_candidates (
    object_key text        PRIMARY KEY,
    noted_at   timestamptz NOT NULL
);
CREATE INDEX retention_candidates_noted ON retention_candidates (noted_at);

-- Where the listing of each prefix stopped, so a run lists a bounded number of pages and the next
-- run (or one after a crash) goes on from there; '' starts the prefix again.
CREATE TABLE retention_sweep (
    prefix    text PRIMARY KEY,
    after_key text NOT NULL
);
