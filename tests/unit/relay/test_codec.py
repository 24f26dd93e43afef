"""The relay codec against an independent encoder: py-libp2p's generated rpc_pb2 for the same
schema (it names the fields from_id and topicIDs; the wire format is the same)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from libp2p.pubsub.pb import rpc_pb2 as reference

from w3msg_libp2p.core.errors import RemoteProtocolError
from w3msg_libp2p.core.framing import FrameDecoder, frame
from w3msg_libp2p.protocols.relay import codec
from w3msg_libp2p.protocols.relay.outbox import Outbox
from w3msg_libp2p.protocols.relay.rpc import Graft, IHave, IWant, Prune, PrunePeer, PubMessage, SubOpt

topics = st.text(max_size=30)
ids = st.lists(st.binary(min_size=1, max_size=40), max_size=5).map(tuple)
pub_messages = st.builds(
    PubMessage,
    topic=topics,
    data=st.binary(max_size=200),
    from_peer=st.none() | st.binary(max_size=40),
    seqno=st.none() | st.binary(max_size=8),
    signature=st.none() | st.binary(max_size=70),
    key=st.none() | st.binary(max_size=40),
)


@given(st.lists(st.builds(SubOpt, st.booleans(), topics), max_size=4),
       st.lists(pub_messages, max_size=4),
       st.lists(st.builds(IHave, topics, ids), max_size=3),
       st.lists(st.builds(IWant, ids), max_size=3),
       st.lists(st.builds(Graft, topics), max_size=3),
       st.lists(st.builds(Prune, topics, st.lists(st.builds(PrunePeer, st.binary(max_size=38)), max_size=2).map(tuple),
                          st.none() | st.integers(0, 2**32)), max_size=3))
def test_round_trip_and_reference_agreement(subs, msgs, ihave, iwant, graft, prune) -> None:  # type: ignore[no-untyped-def]
    body = (
        codec.subscriptions_fields(subs)
        + b"".join(codec.publish_field(m) for m in msgs)
        + codec.control_field(ihave, iwant, graft, prune)
    )
    rpc = codec.decode_rpc(body)
    assert list(rpc.subscriptions) == subs
    assert list(rpc.messages) == msgs
    assert list(rpc.ihave) == ihave and list(rpc.iwant) == iwant
    assert list(rpc.graft) == graft and list(rpc.prune) == prune

    ref = reference.RPC()
    ref.ParseFromString(body)  # an independent parser accepts our bytes...
    assert [s.topicid for s in ref.subscriptions] == [s.topic for s in subs]
    assert [m.data for m in ref.publish] == [m.data for m in msgs]
    assert [m.HasField("from_id") for m in ref.publish] == [m.from_peer is not None for m in msgs]
    assert [list(m.topicIDs) for m in ref.publish] == [[m.topic] for m in msgs]
    assert len(ref.control.graft) == len(graft) and len(ref.control.prune) == len(prune)
    # ...and what it re-encodes, we decode to the same RPC
    assert codec.decode_rpc(ref.SerializeToString()) == rpc


def test_waku_message_has_no_authorship_fields() -> None:
    field = codec.publish_field(PubMessage("/waku/2/rs/1/0", b"data"))
    ref = reference.RPC()
    ref.ParseFromString(field)
    msg = ref.publish[0]
    assert not msg.HasField("from_id") and not msg.HasField("seqno") and not msg.HasField("signature")
    assert list(msg.topicIDs) == ["/waku/2/rs/1/0"] and msg.data == b"data"


def test_message_without_topic_is_refused() -> None:
    ref = reference.RPC()
    ref.publish.add(data=b"x")
    with pytest.raises(RemoteProtocolError, match="topic"):
        codec.decode_rpc(ref.SerializeToString())


@given(st.binary(max_size=200))
def test_garbage_never_escapes_as_anything_but_remote_error(data: bytes) -> None:
    try:
        codec.decode_rpc(data)
    except RemoteProtocolError as exc:
        assert exc.status_code == 400


def test_outbox_coalesces_into_bounded_rpcs_with_one_control_field() -> None:
    box = Outbox(limit=10_000_000)
    fields = [codec.publish_field(PubMessage("/t", bytes(1000))) for _ in range(200)]
    for f in fields:
        assert box.push(f)
    box.control.graft.append(Graft("/t"))
    box.control.ihave.append(IHave("/t", (b"a" * 32,)))
    bodies = box.drain(batch_bytes=60 * 1024)
    assert not box
    assert all(len(b) <= 60 * 1024 for b in bodies)
    decoded = [codec.decode_rpc(b) for b in bodies]
    assert sum(len(r.messages) for r in decoded) == 200
    assert sum(1 for r in decoded if r.has_control) == 1
    # the framed stream decodes back into the same RPCs
    decoder = FrameDecoder(1 << 20)
    assert decoder.feed(b"".join(frame(b) for b in bodies)) == bodies


def test_outbox_refuses_past_its_byte_limit_but_never_starves() -> None:
    box = Outbox(limit=1500)
    big = codec.publish_field(PubMessage("/t", bytes(1000)))
    assert box.push(big)  # always accepts when empty, however large
    assert not box.push(big)
    box.drain(60 * 1024)
    assert box.push(big)
