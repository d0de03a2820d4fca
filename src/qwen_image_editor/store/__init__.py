"""The single source of truth for job state: a SQL database (SQLite by default, PostgreSQL by URL)."""
