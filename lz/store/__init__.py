"""Persistence: SQLAlchemy models, the SQLite engine, migrations and the job store."""
