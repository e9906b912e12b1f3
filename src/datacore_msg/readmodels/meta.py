"""The projection's identity: the checkpoint name its rows share, and their format version."""

#: The projection whose checkpoint the views and derived rows share.
PROJECTION = "messages"
#: What the derived rows hold; a new value (new columns to fill) re-folds everything once.
DERIVED_FORMAT = "6"
