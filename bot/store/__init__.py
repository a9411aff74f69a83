"""Storage edge: SQLite by default, one module per kind of record."""
