"""One installation's configuration, read strictly: settings, paths, contacts (and their editor), the
governor's limits, the trust book's inputs and the hook's settings, every YAML file through one
bounded loader."""
