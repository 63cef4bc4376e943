"""Tests of batchd.api.tc3, the Batch API protocol layer."""
