"""The matching rules, pure functions over a parsed email and the directory: one module per concern
(addresses, persons, companies, tasks, threads, filters, cases, leads, autoreply, loops)."""

from .persons import person_links

__all__ = ["person_links"]
