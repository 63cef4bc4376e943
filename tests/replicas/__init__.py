"""Several `batchd serve` processes on one PostgreSQL database as one service."""
