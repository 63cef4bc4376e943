"""batchd test suite."""
