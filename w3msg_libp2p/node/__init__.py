"""The node: configuration and the one composition root."""
