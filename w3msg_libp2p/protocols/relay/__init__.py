"""Waku relay: gossipsub v1.1 with StrictNoSign and sha256 message ids."""
