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


def expand_wildcards(addrs: list[str]) -> list[str]:
    """Replace a 0.0.0.0 listen address by one address per IPv4 interface: a wildcard is where
    we listen, not where anyone can dial us."""
    from libp2p.utils.address_validation import get_available_interfaces

    out: list[str] = []
    for addr in addrs:
        if not addr.startswith("/ip4/0.0.0.0/"):
            out.append(addr)
            continue
        ips = [str(a).split("/")[2] for a in get_available_interfaces(0) if str(a).startswith("/ip4/")]
        out.extend(addr.replace("/ip4/0.0.0.0/", f"/ip4/{ip}/", 1) for ip in ips or ["127.0.0.1"])
    return out
