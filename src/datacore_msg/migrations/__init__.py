"""Schema migrations of the event log file, and payload upcasters (old event versions read as new)."""
