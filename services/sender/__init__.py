"""The sender: autoresponses (``mail.autoreply``) and mail from the CRM (``mail.outbound``) sent
through each mailbox's SMTP server, once, with a copy to its Sent folder (issue 15)."""
