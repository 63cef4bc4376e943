"""The CMQ actions of the TDMQ API (API 3.0, version 2020-02-17) over batchd's message service."""
