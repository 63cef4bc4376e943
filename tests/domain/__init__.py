"""Tests of batchd.domain."""
