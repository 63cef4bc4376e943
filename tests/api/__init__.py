"""Tests of batchd.api."""
