-- Re-linking on reindex (issue 11). An email's links (email_links) are the union of the decisions of
-- every mailbox that saw it; email_link_sources says which mailbox's decision gave each link, so a
-- reindex of one mailbox replaces that mailbox's links and keeps the others'. The generation per
-- (email, mailbox) is the reindex its links come from: a record of an older one adds no links.
CREATE TABLE email_link_sources (
    email_id    uuid NOT NULL REFERENCES emails (email_id) ON DELETE CASCADE,
    mailbox_id  text NOT NULL,
    entity_type text NOT NULL,
    entity_id   text NOT NULL,
    PRIMARY KEY (email_id, mailbox_id, entity_type, entity_id)
);
CREATE TABLE email_link_generations (
    email_id   uuid   NOT NULL REFERENCES emails (email_id) ON DELETE CASCADE,
    mailbox_id text   NOT NULL,
    generation bigint NOT NULL,
    PRIMARY KEY (email_id, mailbox_id)
);
-- Links stored before: every mailbox that saw the email counts as their source, so a reindex of one
-- of them never drops a link another mailbox may have given.
INSERT INTO email_link_sources (email_id, mailbox_id, entity_type, entity_id)
SELECT DISTINCT l.email_id, s.mailbox_id, l.entity_type, l.entity_id
FROM email_links l JOIN email_sightings s USING (email_id);
