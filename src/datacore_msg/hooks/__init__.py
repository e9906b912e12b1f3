"""Claude Code integration: the prompt and session-start hooks, and their installation.

Hooks run on every prompt the user types, so the common path ("nothing new") imports only the
standard library; see :mod:`datacore_msg.hooks.prompt` for the theory of operation.
"""
