"""Our own node's ENR, built from its key, its listen addresses, relay shards and mounted protocols.

An ENR is signed with the node's secp256k1 identity key (the "v4" scheme has no other): a node
with an ed25519 key has no ENR, and ``LocalEnr.current()`` returns None for it.

Addresses: the first plain ``/ip4/A/tcp/P`` goes to ``ip``/``tcp``, the first ``/ip6/A/tcp/P``
to ``ip6``/``tcp6`` (EIP-778's own keys, as 31/WAKU2-ENR asks), every other address (WebSocket,
other interfaces) to ``multiaddrs``, best first (public, then private, then loopback; loopback
only when there is nothing else) and as many as fit the 300-byte limit. ``waku2`` has a bit per
mounted protocol; ``rs``/``rsv`` list the static shards the relay is subscribed to.

The record is rebuilt when any of this changes, with a higher ``seq``: the Unix time in seconds,
or the previous seq + 1 if that is not higher (seq is not persisted, and time keeps it increasing
across restarts).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from libp2p.crypto.keys import KeyType

from ..core.enr import Capabilities, Enr, RelayShards, build_waku_enr
from ..core.errors import LocalProtocolError, TopicError
from ..core.topics import parse_pubsub_topic

if TYPE_CHECKING:
    from .node import Node

log = logging.getLogger(__name__)

NO_CAPABILITIES = Capabilities(0)
# mounted service attribute on Node -> capability bit
_SERVICE_BITS = (("store", Capabilities.STORE), ("filter", Capabilities.FILTER),
                 ("lightpush", Capabilities.LIGHTPUSH), ("sync", Capabilities.SYNC), ("mix", Capabilities.MIX))


@dataclass(frozen=True, slots=True)
class EnrContent:
    """Everything a node's record says besides seq and key: rebuild when this changes."""

    ip: str | None = None
    tcp: int | None = None
    ip6: str | None = None
    tcp6: int | None = None
    multiaddrs: tuple[str, ...] = ()
    waku2: Capabilities = NO_CAPABILITIES
    shards: RelayShards | None = None


def _rank(addr: str) -> int:
    """0 public, 1 private, 2 loopback/link-local or unknown host part."""
    parts = addr.split("/")
    if len(parts) < 3 or parts[1] not in ("ip4", "ip6"):
        return 0 if len(parts) > 2 and parts[1].startswith("dns") else 1
    try:
        ip = ipaddress.ip_address(parts[2])
    except ValueError:
        return 2
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
        return 2
    return 1 if ip.is_private else 0


def plan_addresses(listen_addrs: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Split our dialable addresses into EIP-778 fields and the ``multiaddrs`` candidates."""
    addrs = [a.split("/p2p/")[0] for a in listen_addrs]
    addrs = sorted(dict.fromkeys(addrs), key=_rank)
    if any(_rank(a) < 2 for a in addrs):
        addrs = [a for a in addrs if _rank(a) < 2]
    fields: dict[str, Any] = {}
    rest: list[str] = []
    for addr in addrs:
        parts = addr.split("/")
        plain_tcp = len(parts) == 5 and parts[3] == "tcp"
        if plain_tcp and parts[1] == "ip4" and "ip" not in fields:
            fields.update(ip=parts[2], tcp=int(parts[4]))
        elif plain_tcp and parts[1] == "ip6" and "ip6" not in fields:
            fields.update(ip6=parts[2], tcp6=int(parts[4]))
        else:
            rest.append(addr)
    return fields, rest


def node_capabilities(node: Node) -> Capabilities:
    caps = NO_CAPABILITIES
    if node.relay is not None:
        caps |= Capabilities.RELAY
    for name, bit in _SERVICE_BITS:
        if getattr(node, name, None) is not None:
            caps |= bit
    return caps


def node_shards(node: Node) -> RelayShards | None:
    """The static shards of our cluster the relay is subscribed to (None without relay)."""
    if node.relay is None:
        return None
    cluster = node.config.cluster_id
    shards = []
    for topic in node.relay.subscribed_topics:
        try:
            shard = parse_pubsub_topic(topic)
        except TopicError:  # not a Waku topic: says nothing about our shards
            continue
        if shard is not None and shard.cluster_id == cluster:
            shards.append(shard.shard)
    return RelayShards.of(cluster, shards) if shards else None


def node_enr_content(node: Node) -> EnrContent:
    fields, rest = plan_addresses(node.listen_addrs())
    return EnrContent(multiaddrs=tuple(rest), waku2=node_capabilities(node), shards=node_shards(node), **fields)


def build_enr(private_key: bytes, seq: int, content: EnrContent) -> Enr:
    """The record for ``content``; what does not fit 300 bytes is left out, least useful first:
    trailing ``multiaddrs``, then the IPv6 address (a bit vector of >= 64 shards plus both IP
    families can overflow the record on its own)."""
    multiaddrs = list(content.multiaddrs)
    while True:
        try:
            return build_waku_enr(private_key, seq, ip=content.ip, tcp=content.tcp, ip6=content.ip6,
                                  tcp6=content.tcp6, waku2=content.waku2, multiaddrs=multiaddrs,
                                  shards=content.shards)
        except LocalProtocolError:
            if multiaddrs:
                log.info("ENR: %s left out of the record (300-byte limit)", multiaddrs.pop())
            elif content.ip6 is not None and content.ip is not None:
                log.info("ENR: IPv6 address %s left out of the record (300-byte limit)", content.ip6)
                content = replace(content, ip6=None, tcp6=None)
            else:
                raise


class LocalEnr:
    """Our node's current record; None for a node whose identity key is not secp256k1.

    ``current()`` looks at the node again at most every ``recheck_interval`` seconds (listing
    interfaces costs system calls, and peer exchange asks on every request); ``refresh()``
    looks now. Either rebuilds the record, with a higher seq, only when its content changed.
    """

    def __init__(self, node: Node, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, recheck_interval: float = 1.0) -> None:
        self.node = node
        self.clock = clock
        self.monotonic = monotonic
        self.recheck_interval = recheck_interval
        self._content: EnrContent | None = None
        self._enr: Enr | None = None
        self._checked_at: float | None = None

    def current(self) -> Enr | None:
        checked = self._checked_at
        if checked is not None and self.monotonic() - checked < self.recheck_interval:
            return self._enr
        return self.refresh()

    def refresh(self) -> Enr | None:
        self._checked_at = self.monotonic()
        key = self.node.host.get_private_key()
        if key.get_type() != KeyType.Secp256k1:
            return None
        content = node_enr_content(self.node)
        if self._enr is None or content != self._content:
            seq = max(int(self.clock()), self._enr.seq + 1 if self._enr else 0)
            self._enr = build_enr(key.to_bytes(), seq, content)
            self._content = content
        return self._enr

    @property
    def uri(self) -> str | None:
        enr = self.current()
        return None if enr is None else enr.to_text()
