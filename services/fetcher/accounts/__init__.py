"""Mailbox accounts: the model, secrets at rest, the PostgreSQL store and the operator CLI."""
