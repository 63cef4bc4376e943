"""End-to-end tests of the batch service through the official Batch SDK."""
