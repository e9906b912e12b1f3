"""Settings, paths and identity of one installation."""
