"""The whole schema: every table module registered on one MetaData."""

from __future__ import annotations

from batchd.store import tables, tables_accounts, tables_batch, tables_requests

metadata = tables.metadata
__all__ = ["metadata", "tables", "tables_accounts", "tables_batch", "tables_requests"]
