"""The shared library: settings, message models, topics, the consumer runtime, client factories,
metrics, health and logging. Services build on these and create no clients of their own."""
