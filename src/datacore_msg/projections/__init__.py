"""Pure reducers (events -> state), a pure org renderer (state -> text), and the one file writer."""
