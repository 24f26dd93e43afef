"""Waku metadata (66/WAKU2-METADATA): cluster and shards exchanged on connect."""
