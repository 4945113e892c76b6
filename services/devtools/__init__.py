"""Developer tools, a separate tool beside the services: the demo corpus generator, mailbox seeding,
service processes and the demo driver, used by ``make demo``, the end-to-end tests and the
benchmarks.

It ships in the wheel because the demo runs from the installed package (``python -m
mailpipe.devtools.demo`` in the Makefile) and tests and benchmarks import it from there. No service
and nothing in ``mailpipe.common`` imports it (tests/unit/test_import_boundaries.py fails if one
does); it reaches the services only through their public entry points: ``mailpipe.cli`` commands,
the accounts model, and the accounts operation ``save_sealed`` for seeding (see
``mailboxes.save_account``); that test also fails when it imports any other service module."""
