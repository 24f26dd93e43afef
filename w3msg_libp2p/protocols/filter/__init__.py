"""Waku filter v2: light clients subscribe to content topics and get matching messages pushed."""
