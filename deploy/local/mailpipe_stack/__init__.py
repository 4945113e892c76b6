"""The local stack: real Kafka, PostgreSQL, S3 (versitygw), Dovecot, Postfix and Prometheus on
127.0.0.1, no containers. Postfix (smtp, submission with STARTTLS+AUTH, smtps) authenticates
against Dovecot and delivers to it over LMTP; ``refuse-``/``defer-`` recipients get 550/450.

Run as ``python -m mailpipe_stack up|down|status|logs|clean`` (the Makefile does this with
``PYTHONPATH=deploy/local``). Every command is idempotent; readiness is a real client call.
"""
