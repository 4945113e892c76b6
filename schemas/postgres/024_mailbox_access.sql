-- Mailbox access lists (reference 002, issue 14): the users and teams a mailbox names may read its
-- mail. Kept on each sighting like its owner and team: a sighting seen again (a new fetch, or
-- `mailpipe accounts reindex` after the list changed) takes the mailbox's current lists.
ALTER TABLE email_sightings
    ADD COLUMN access_users text[] NOT NULL DEFAULT '{}',
    ADD COLUMN access_teams text[] NOT NULL DEFAULT '{}';
