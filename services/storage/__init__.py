"""Storage: persists ``mail.matched`` into PostgreSQL."""
