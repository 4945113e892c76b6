"""The matcher: links each parsed email to CRM entities and emits ``mail.matched``."""
