"""The parser: raw RFC 822 from ``mail.raw`` to the ``mail.parsed`` summary."""
