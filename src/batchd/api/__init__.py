"""The wire protocols (CMQ 2.0, and later Batch API v3), authentication and the HTTP server."""
