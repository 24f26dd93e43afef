"""Multiaddr parsing with errors a person can act on."""

from __future__ import annotations

from multiaddr import Multiaddr
from multiaddr.exceptions import Error as MultiaddrError

from ..core.errors import ConfigError


def parse_multiaddr(text: str, *, what: str = "multiaddr", need_peer_id: bool = False) -> Multiaddr:
    if not isinstance(text, str) or not text.startswith("/"):
        raise ConfigError(f"{what} {text!r} is not a multiaddr (it must start with '/')")
    try:
        addr = Multiaddr(text)
    except (MultiaddrError, ValueError, TypeError) as exc:
        raise ConfigError(f"{what} {text!r} is malformed: {exc}") from None
    if need_peer_id and not addr.get_peer_id():
        raise ConfigError(f"{what} {text!r} has no /p2p/<peer-id> part")
    return addr
