"""Building the py-libp2p host: TCP + WebSocket, Noise only, yamux preferred with mplex offered."""

from __future__ import annotations

import libp2p
from libp2p.abc import IHost
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from .mplex import W3Mplex


def build_host(key_pair: KeyPair) -> IHost:
    """A host that can dial TCP and WebSocket peers and listen where ``host.run`` is told to.

    Listen addresses are deliberately not given to ``new_host``: py-libp2p would then share one
    socket between a TCP and a WebSocket address on the same port (port 0 included), and its
    classifier closes connections whose first segment is shorter than 3 bytes, which is how
    js-libp2p opens (docs/interop.md). Separate listeners avoid that.
    """
    # One connection per peer: py-libp2p otherwise waits its 250 ms happy-eyeballs delay on
    # every dial for a second connection we never want (REFERENCE.md section 6).
    connection_config = ConnectionConfig(max_connections_per_peer=1)
    return libp2p.new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: NoiseTransport(key_pair, noise_privkey=new_x25519().private_key)},
        # js-waku speaks only mplex; everyone else prefers yamux. W3Mplex: py-libp2p's mplex with
        # its bidirectional-load deadlocks fixed (net/mplex.py).
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux, TProtocol(MPLEX_PROTOCOL_ID): W3Mplex},
        connection_config=connection_config,
        enable_tcp=True,
        enable_websocket=True,
    )
