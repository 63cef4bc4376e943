"""Tests of batchd.cli."""
