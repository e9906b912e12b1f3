"""The projections' impure side: catch-up (log -> derived rows, under the views lock) and the one
writer of org files. They call the pure reducers and renderer of the parent package."""
