-- No single value can break a write (issue 11). A B-tree index entry holds at most 2704 bytes, so a
-- 10 KB Message-ID or a 5 KB address made the whole email's insert fail. The values stay as they
-- came (they are data); only their indexes change:
-- equality lookups (thread roots, Message-IDs, a user's own addresses) use hash indexes, which store
-- a 4-byte hash of any length of value; a participant's uniqueness is keyed by the md5 of its address.
DROP INDEX emails_message_id;
CREATE INDEX emails_message_id ON emails USING hash (message_id) WHERE message_id IS NOT NULL;
DROP INDEX emails_thread_root;
CREATE INDEX emails_thread_root ON emails USING hash (thread_root) WHERE thread_root IS NOT NULL;

ALTER TABLE email_participants DROP CONSTRAINT email_participants_pkey;
CREATE UNIQUE INDEX email_participants_key ON email_participants (email_id, role, md5(address));
DROP INDEX email_participants_address;
CREATE INDEX email_participants_address ON email_participants USING hash (address);
