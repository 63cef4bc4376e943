"""Alembic migrations of the batchd schema."""
