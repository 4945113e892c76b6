"""mailpipe: an event-driven email import pipeline for CRM platforms, on Kafka.

The import package ``mailpipe`` is this ``services/`` folder: ``mailpipe.common`` is the shared
library; ``mailpipe.fetcher``, ``.parser``, ``.matcher`` and ``.storage`` are the four services.
"""
