"""Layer 1: the sans-IO protocol core (no sockets, no event loop)."""
