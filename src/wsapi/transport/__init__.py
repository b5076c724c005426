"""Layer 2: the anyio transport that drives the protocol core over TCP and TLS."""
