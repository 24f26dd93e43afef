"""The baseline node for the relay benchmark: stock py-libp2p GossipSub + Pubsub.

Run through ``relay_worker.py --impl baseline`` (same control protocol, same messages). The host
is built by w3msg's ``build_host`` (libp2p.new_host with TCP + Noise + yamux and one connection
per peer), so both implementations stand on the same transport and only the pubsub layer differs.

Tuning, each chosen so the baseline is measured at its best rather than at its defaults:
- /meshsub/1.1.0 only, D = 6 / 4 / 8 as our relay, heartbeat 1 s (default 120 s);
- spam protection off (default: 10 msg/s per topic per forwarder, which also caps our own publishes);
- adaptive gossip off (when it judges the network unhealthy it stretches the heartbeat to >= 30 s);
- no signing (Waku relay messages are unsigned, and signing + verifying only adds cost) and a
  content-addressed message id, sha256(data), as Waku uses.
Left as shipped: the 32-RPC per-peer send queues and the 32-message subscription queue, which
drop silently when full; the benchmark just measures what arrives.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr
from relay_worker import TOPIC, Sink

from w3msg_libp2p.core.codec import decode_message, encode_message
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.net.host import build_host

LISTEN = "/ip4/127.0.0.1/tcp/0"


class DropCounter(logging.Handler):
    """py-libp2p only logs its drops (full send queue: debug; full subscription queue: warning):
    count those log records so the report can show where baseline messages were lost."""

    PATTERNS = {"Dropping outbound RPC": "send_queue_full",
                "fail to deliver message to subscription": "subscription_queue_full"}

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        for prefix, reason in self.PATTERNS.items():
            if str(record.msg).startswith(prefix):
                self.counts[reason] += 1

    def install(self) -> None:
        for name in ("libp2p.pubsub.rpc_queue", "libp2p.pubsub.pubsub"):
            logger = logging.getLogger(name)
            logger.addHandler(self)
        # Only drop_rpc() logs at debug in rpc_queue; keep it off the stderr log.
        queue_logger = logging.getLogger("libp2p.pubsub.rpc_queue")
        queue_logger.setLevel(logging.DEBUG)
        queue_logger.propagate = False


def waku_message_id(msg: rpc_pb2.Message) -> bytes:
    return hashlib.sha256(msg.data).digest()


class BaselineBackend:
    def __init__(self, host: Any, pubsub: Pubsub, gossipsub: GossipSub, subscription: Any) -> None:
        self.drops = DropCounter()
        self.drops.install()
        self.host = host
        self.pubsub = pubsub
        self.gossipsub = gossipsub
        self.subscription = subscription
        addr = str(host.get_addrs()[0])
        self.addr = addr if "/p2p/" in addr else f"{addr}/p2p/{host.get_id()}"

    async def connect(self, addr: str) -> None:
        await self.host.connect(info_from_p2p_addr(Multiaddr(addr)))

    def mesh_size(self) -> int:
        return len(self.gossipsub.mesh.get(TOPIC, ()))

    def peer_count(self) -> int:
        return len([p for p, conns in self.host.get_network().connections.items() if conns])

    async def publish(self, message: WakuMessage) -> None:
        await self.pubsub.publish(TOPIC, encode_message(message))

    async def deliver_loop(self, sink: Sink) -> None:
        channel = self.subscription.receive_channel
        while True:  # drain everything buffered per wake-up, as the w3msg worker does
            sink(decode_message((await channel.receive()).data))
            while True:
                try:
                    msg = channel.receive_nowait()
                except trio.WouldBlock:
                    break
                sink(decode_message(msg.data))

    def stats(self) -> dict[str, Any]:
        return {"pubsub_peers": len(self.pubsub.peers), "mesh": self.mesh_size(),
                "drops": dict(self.drops.counts)}


@asynccontextmanager
async def baseline_backend(data_dir: Path) -> AsyncIterator[BaselineBackend]:
    listen = [Multiaddr(LISTEN)]
    host = build_host(create_new_key_pair())
    gossipsub = GossipSub(
        protocols=[PROTOCOL_ID_V11],
        degree=6,
        degree_low=4,
        degree_high=8,
        heartbeat_interval=1,
        spam_protection_enabled=False,
        adaptive_gossip_enabled=False,
    )
    pubsub = Pubsub(host, gossipsub, strict_signing=False, msg_id_constructor=waku_message_id)
    async with host.run(listen_addrs=listen), background_trio_service(pubsub), \
            background_trio_service(gossipsub):
        await pubsub.wait_until_ready()
        subscription = await pubsub.subscribe(TOPIC)
        yield BaselineBackend(host, pubsub, gossipsub, subscription)
