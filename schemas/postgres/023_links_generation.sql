-- Re-linking on reindex (issue 11): the reindex generation whose links an email holds. A matched
-- record of a newer generation replaces the email's links; one of an older generation (a replay
-- of mail.matched from before the reindex) adds none, so stale links never come back.
ALTER TABLE emails ADD COLUMN links_generation bigint NOT NULL DEFAULT 0;
