-- Retention (issue 6): objects whose last reference was deleted wait here until they are removed
-- from S3, so a run that stops between the database and S3 resumes where it stopped.
CREATE TABLE retention_orphans (
    object_key text PRIMARY KEY
);
-- "does anything still reference this object?" for whole messages and long bodies
CREATE INDEX emails_raw_ref ON emails (raw_ref) WHERE raw_ref IS NOT NULL;
CREATE INDEX emails_text_body_ref ON emails (text_body_ref) WHERE text_body_ref IS NOT NULL;
CREATE INDEX emails_html_body_ref ON emails (html_body_ref) WHERE html_body_ref IS NOT NULL;
