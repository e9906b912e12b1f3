"""The application service: commands in, events appended, views caught up, results out.

CLI, hooks and the demo call these functions; they never print or exit.
"""
