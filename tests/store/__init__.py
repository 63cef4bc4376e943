"""Tests of batchd.store."""
