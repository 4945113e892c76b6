"""Developer tools: the demo corpus generator, mailbox seeding, service processes, the demo driver.
Used by ``make demo``, the end-to-end tests and the benchmarks; never by the services."""
