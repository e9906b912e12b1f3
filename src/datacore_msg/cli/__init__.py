"""The command line: parse, call the library once, print once, exit with a typed code."""
