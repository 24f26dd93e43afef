"""Errors say whose fault it was and, for remote faults, which wire status code to send back."""

from __future__ import annotations


class W3MsgError(Exception):
    """Root of every error w3msg raises on purpose."""


class LocalProtocolError(W3MsgError):
    """Our caller misused the API (bad topic, oversized publish, node not running...)."""


class RemoteProtocolError(W3MsgError):
    """A peer broke the spec. ``status_code`` is what a service protocol answers on the wire."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


class ConfigError(W3MsgError):
    """The node configuration is invalid; the message names the offending setting."""


class TopicError(LocalProtocolError):
    """A content topic or pubsub topic is malformed."""


class PublishError(LocalProtocolError):
    """A publish could not go out (no peers, too large, rejected by validation, back-pressure)."""


class PeerUnreachable(W3MsgError):
    """A peer could not be dialed (no route, refused, handshake failed, timed out)."""
