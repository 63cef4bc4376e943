"""The `batchd` command: the server and the client commands."""
