"""Moving events between installations: the sync protocol (sans-I/O), its frames, and the drivers
that open sockets (the relay server, the peer client)."""
