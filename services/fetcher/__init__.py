"""The fetcher: reads mailboxes and publishes each new message to ``mail.raw``."""
