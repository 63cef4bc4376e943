"""The controller: moves jobs, tasks, instances and nodes through their states."""
