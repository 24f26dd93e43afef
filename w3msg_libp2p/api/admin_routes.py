"""/admin/v1/peers: list the peers we know, dial new ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Response
from quart_trio import QuartTrio

from ..core.errors import ConfigError, PeerUnreachable, TopicError
from ..core.topics import parse_pubsub_topic
from ..net.addresses import parse_multiaddr
from .parsing import Refused, parse_peer_addrs
from .responses import json_response, ok, read_json

if TYPE_CHECKING:
    from ..node.node import Node, PeerSummary
    from ..protocols.relay.waku import WakuRelay


def install_admin_routes(app: QuartTrio, node: Node) -> None:
    @app.get("/admin/v1/peers")
    async def get_peers() -> Response:
        return json_response(peer_list(node))

    @app.post("/admin/v1/peers")
    async def post_peers() -> Response:
        addrs = parse_peer_addrs(await read_json())
        for index, addr in enumerate(addrs):
            try:
                await node.connect(addr)
            except (PeerUnreachable, ConfigError) as exc:
                raise Refused(f"Failed to connect to peer at index: {index} - {addr}: {exc}",
                              reason="connect_failed") from None
        return ok()


def peer_list(node: Node) -> list[dict[str, Any]]:
    """nwaku's WakuPeer for every peer in the peer store."""
    static = _static_peer_ids(node.config.peers)
    relay = node.relay
    out = []
    for peer in node.peers():
        shards: list[int] = []
        score: float | None = None
        if relay is not None:
            shards = relay_shards(relay, peer.peer_id, node.config.cluster_id)
            if peer.peer_id in relay.router.peers:
                score = relay.router.score.score(peer.peer_id)
        out.append(peer_json(peer, shards, score, "Static" if peer.peer_id in static else "UnknownOrigin"))
    return out


def peer_json(peer: PeerSummary, shards: list[int], score: float | None, origin: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "multiaddr": peer_multiaddr(peer),
        "protocols": sorted(peer.protocols),
        "shards": shards,
        "connected": "Connected" if peer.connected else "NotConnected",
        "agent": "",  # py-libp2p keeps no agent version from identify
        "origin": origin,
    }
    if score is not None:
        out["score"] = score
    return out


def peer_multiaddr(peer: PeerSummary) -> str:
    """The first known address with /p2p/<id>, as nwaku's constructMultiaddrStr ("" if none)."""
    if not peer.multiaddrs:
        return ""
    addr = peer.multiaddrs[0]
    return addr if "/p2p/" in addr else f"{addr}/p2p/{peer.peer_id}"


def relay_shards(relay: WakuRelay, peer_id: str, cluster_id: int) -> list[int]:
    """Shards of our cluster the peer announced in relay (nwaku reads them from ENR/metadata)."""
    shards = set()
    for topic, peers in relay.router.topics.items():
        if peer_id not in peers:
            continue
        try:
            shard = parse_pubsub_topic(topic)
        except TopicError:
            continue  # a peer may announce any topic string
        if shard is not None and shard.cluster_id == cluster_id:
            shards.add(shard.shard)
    return sorted(shards)


def _static_peer_ids(addrs: tuple[str, ...]) -> set[str]:
    return {parse_multiaddr(a).get_peer_id() or "" for a in addrs}
