"""Identify, ping and the muxers our host offers."""

from __future__ import annotations

from pathlib import Path

import libp2p
import trio
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519
from libp2p.custom_types import TProtocol
from libp2p.host.ping import PingService
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from multiaddr import Multiaddr

from w3msg_libp2p.node.keys import generate_key_pair
from w3msg_libp2p.protocols.relay.params import WAKU_RELAY_PROTOCOL

from .conftest import running_nodes


async def test_identify_advertises_relay_and_ping_answers(tmp_path: Path) -> None:
    async with running_nodes(tmp_path, 2) as (a, b):
        await a.connect(b.listen_addrs()[0])
        b_id = ID.from_base58(b.peer_id)
        with trio.fail_after(10):
            while WAKU_RELAY_PROTOCOL not in a.host.get_peerstore().get_protocols(b_id):
                await trio.sleep(0.05)
        protocols = set(a.host.get_peerstore().get_protocols(b_id))
        assert {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/meshsub/1.1.0"} <= protocols
        rtts = await PingService(a.host).ping(b_id, ping_amt=3)
        assert len(rtts) == 3 and all(rtt >= 0 for rtt in rtts)  # whole milliseconds: 0 on loopback


async def test_an_mplex_only_peer_can_connect(tmp_path: Path) -> None:
    """js-waku speaks only mplex: our host must offer it."""
    key = generate_key_pair("ed25519")
    mplex_only = libp2p.new_host(
        key_pair=key,
        sec_opt={NOISE: NoiseTransport(key, noise_privkey=new_x25519().private_key)},
        muxer_opt={TProtocol(MPLEX_PROTOCOL_ID): Mplex},
    )
    async with running_nodes(tmp_path, 1) as (node,), mplex_only.run([Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        await mplex_only.connect(info_from_p2p_addr(Multiaddr(node.listen_addrs()[0])))
        rtts = await PingService(mplex_only).ping(ID.from_base58(node.peer_id), ping_amt=1)
        assert len(rtts) == 1
        conn = mplex_only.get_network().connections[ID.from_base58(node.peer_id)][0]
        assert isinstance(conn.muxed_conn, Mplex)
