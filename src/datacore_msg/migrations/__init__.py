"""Schema migrations of the event log file, payload upcasters, and importers of older formats."""
