"""The CMQ API 2.0 served at /v2/index.php."""
