-- A message the server cannot deliver (a FETCH the server fails) is dead-lettered to mail.raw.dlq
-- and recorded as failed, so one bad message never blocks its mailbox.
ALTER TABLE fetch_ledger DROP CONSTRAINT fetch_ledger_outcome_check;
ALTER TABLE fetch_ledger ADD CONSTRAINT fetch_ledger_outcome_check
    CHECK (outcome IN ('published', 'claim_checked', 'headers_only', 'failed'));
