"""Mail sources: one adapter per protocol, translating library errors into the runtime's kinds."""
