"""The Model Context Protocol server (``datacore-msg mcp``) and its registration for Claude Code.

``server`` imports the ``mcp`` SDK; ``install`` and ``results`` do not, so ``mcp install`` and
``mcp status`` start without it.
"""
