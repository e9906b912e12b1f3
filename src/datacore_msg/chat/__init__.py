"""The chat window (``datacore-msg chat``): a Textual terminal app over the same service calls as the
CLI. :mod:`.commands` (the input line's grammar) is pure; :mod:`.app` draws and dispatches."""
