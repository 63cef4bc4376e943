"""Pure rules of batchd: ids, records, state machines, errors. No I/O."""
