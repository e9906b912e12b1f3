"""Reading the files of datacore-messaging (v0.1 and v0.2), the system datacore-msg replaces: a
tolerant reader of its org entries and the mapping of each entry to events. Pure: no files, no
clock, no database (the app's ``migrate_org`` reads the files and appends the events)."""
