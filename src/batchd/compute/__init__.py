"""Compute: the worker-side runner that executes task instances on Dask workers."""
