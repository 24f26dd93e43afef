"""Pre-flight check of listen addresses.

py-libp2p binds with SO_REUSEPORT, so a second node on a taken port starts "fine" and the
kernel then splits incoming connections between the two. A plain bind tells us the truth.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from multiaddr import Multiaddr
from multiaddr.exceptions import ProtocolLookupError

from ..core.errors import ConfigError


def _value(addr: Multiaddr, protocol: str) -> str | None:
    try:
        value = addr.value_for_protocol(protocol)
    except ProtocolLookupError:
        return None
    return None if value is None else str(value)


def check_listen_addrs(addrs: Iterable[Multiaddr]) -> None:
    probed: set[tuple[str, int]] = set()
    for addr in addrs:
        ip6 = _value(addr, "ip6")
        ip = ip6 or _value(addr, "ip4")
        tcp = _value(addr, "tcp")
        if ip is None or tcp is None or int(tcp) == 0 or (ip, int(tcp)) in probed:
            continue
        probed.add((ip, int(tcp)))
        family = socket.AF_INET6 if ip6 else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
            try:
                probe.bind((ip, int(tcp)))
            except OSError as exc:
                raise ConfigError(f"cannot listen on {addr}: {exc.strerror or exc}") from None
