"""Building the py-libp2p host: TCP + WebSocket, Noise only, yamux preferred with mplex offered."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import libp2p
from libp2p.abc import IHost
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.transport.tcp.tcp import TCP
from libp2p.transport.websocket.transport import WebsocketTransport
from multiaddr import Multiaddr


def build_host(key_pair: KeyPair, listen_addrs: Sequence[Multiaddr]) -> IHost:
    # One connection per peer: py-libp2p otherwise waits its 250 ms happy-eyeballs delay on
    # every dial for a second connection we never want (REFERENCE.md section 6).
    connection_config = ConnectionConfig(max_connections_per_peer=1)
    host = libp2p.new_host(
        key_pair=key_pair,
        listen_addrs=list(listen_addrs),
        sec_opt={NOISE_PROTOCOL_ID: NoiseTransport(key_pair, noise_privkey=new_x25519().private_key)},
        # js-waku speaks only mplex; everyone else prefers yamux.
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux, TProtocol(MPLEX_PROTOCOL_ID): Mplex},
        connection_config=connection_config,
    )
    _ensure_dial_transports(host)
    return host


def _ensure_dial_transports(host: IHost) -> None:
    """py-libp2p registers only the transports of the listen addresses; a node that listens on
    TCP alone must still be able to dial WebSocket peers (and vice versa)."""
    swarm: Any = host.get_network()
    manager = swarm.transport_manager
    # Probing logs a warning for each missing transport; that is the expected answer here.
    probe_log = logging.getLogger("libp2p.transport.manager")
    level = probe_log.level
    probe_log.setLevel(logging.ERROR)
    try:
        has_tcp = manager.transport_for_dialing(Multiaddr("/ip4/127.0.0.1/tcp/1")) is not None
        has_ws = manager.transport_for_dialing(Multiaddr("/ip4/127.0.0.1/tcp/1/ws")) is not None
    finally:
        probe_log.setLevel(level)
    if not has_tcp:
        manager.add_transport(TCP())
    if not has_ws:
        manager.add_transport(WebsocketTransport(swarm.upgrader))
