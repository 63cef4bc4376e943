"""Benchmarks of batchd (not tests): each prints its figures."""
