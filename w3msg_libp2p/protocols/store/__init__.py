"""Waku store v3: short-term message archive and history queries."""
