"""Tests of batchd.mq."""
