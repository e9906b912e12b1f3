"""The governor: whether a request may spend its agent's tokens (a pure function; see decide.py)."""
