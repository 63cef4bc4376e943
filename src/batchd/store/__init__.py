"""Persistence: tables, migrations, repositories and the group-committing unit of work."""
