"""For operators: doctor, the configuration reference, the lifecycle and architecture pictures, and the daemon's log file."""
