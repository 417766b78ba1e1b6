"""Alembic migrations, shipped inside the package as ``lz.migrations``."""
