"""Waku metadata logic, free of streams: what we announce, and what to do with what a peer says."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ...core.errors import TopicError
from ...core.topics import parse_pubsub_topic
from . import codec
from .rpc import Metadata


def local_metadata(cluster_id: int, relayed_topics: Iterable[str]) -> Metadata:
    """Our cluster and the shards of it we relay (named topics and other clusters' shards are
    not shards of ours)."""
    shards = set()
    for topic in relayed_topics:
        try:
            shard = parse_pubsub_topic(topic)
        except TopicError:
            continue
        if shard is not None and shard.cluster_id == cluster_id:
            shards.add(shard.shard)
    return Metadata(cluster_id, tuple(sorted(shards)))


@dataclass(frozen=True, slots=True)
class PeerVerdict:
    keep: bool
    reason: str  # metric label


SAME_CLUSTER = PeerVerdict(True, "same_cluster")
NO_CLUSTER = PeerVerdict(True, "no_cluster_id")
OTHER_CLUSTER = PeerVerdict(False, "cluster_mismatch")


def judge(our_cluster: int, theirs: Metadata) -> PeerVerdict:
    """nwaku's rule: a peer that reports another cluster is disconnected. A peer that reports
    none is kept (nwaku drops it too; we only drop what we know to be elsewhere)."""
    if theirs.cluster_id is None:
        return NO_CLUSTER
    return SAME_CLUSTER if theirs.cluster_id == our_cluster else OTHER_CLUSTER


class MetadataServer:
    """Answers every request with what we are. A malformed or oversized request gets the same
    true answer (the protocol has no error field), and is counted by the stream adapter."""

    def __init__(self, ours: Callable[[], Metadata]) -> None:
        self.ours = ours

    async def handle(self, peer: str, data: bytes) -> bytes:
        codec.decode_request(data)  # RemoteProtocolError: the adapter counts it and calls refuse
        return codec.encode_response(self.ours())

    def refuse(self, status: int, description: str) -> bytes:
        return codec.encode_response(self.ours())
