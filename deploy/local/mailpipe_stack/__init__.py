"""The local stack: real Kafka, PostgreSQL, S3 (versitygw) and Dovecot on 127.0.0.1, no containers.

Run as ``python -m mailpipe_stack up|down|status|logs|clean`` (the Makefile does this with
``PYTHONPATH=deploy/local``). Every command is idempotent; readiness is a real client call.
"""
