"""Metadata rules: what we announce and which peers we keep."""

from __future__ import annotations

from w3msg_libp2p.protocols.metadata import codec
from w3msg_libp2p.protocols.metadata.rpc import Metadata
from w3msg_libp2p.protocols.metadata.server import MetadataServer, judge, local_metadata


def test_we_announce_our_shards_of_our_cluster_only() -> None:
    topics = ["/waku/2/rs/1/3", "/waku/2/rs/1/0", "/waku/2/rs/2/1", "/waku/2/default-waku/proto", "junk",
              "/waku/2/rs/1/3"]
    assert local_metadata(1, topics) == Metadata(1, (0, 3))
    assert local_metadata(7, []) == Metadata(7, ())


def test_verdicts() -> None:
    assert judge(1, Metadata(1, (0,))).keep
    assert judge(1, Metadata(None, ())).reason == "no_cluster_id"
    assert judge(1, Metadata(None, ())).keep
    other = judge(1, Metadata(0, ()))
    assert not other.keep and other.reason == "cluster_mismatch"


async def test_the_server_answers_truthfully_even_a_refused_request() -> None:
    server = MetadataServer(lambda: Metadata(1, (0, 1)))
    answer = await server.handle("peer", codec.encode_request(Metadata(1, ())))
    assert codec.decode_response(answer) == Metadata(1, (0, 1))
    assert codec.decode_response(server.refuse(400, "junk")) == Metadata(1, (0, 1))
