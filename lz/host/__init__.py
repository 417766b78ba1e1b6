"""The host machine: durable file writes, process groups, the worker pool and the crash-at fault points."""
