"""Tests of batchd.compute (the worker-side runner)."""
