"""Named queries over the batchd tables, one module per aggregate."""
