"""Gossipsub RPC wire codec. The only relay module importing generated protobuf.

Encoding is done field by field: a protobuf message is the concatenation of its fields, so a
forwarded message is encoded once (as an ``RPC.publish`` field) and the same bytes are spliced
into the RPC of every peer it goes to. Many messages for one peer coalesce into one RPC.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...core.errors import RemoteProtocolError
from ...core.framing import encode_uvarint
from ...core.protobuf import parse_bounded
from ...pb import gossipsub_rpc_pb2 as pb
from .rpc import RPC, Graft, IDontWant, IHave, IWant, Prune, PrunePeer, PubMessage, SubOpt

# RPC field tags (field number << 3 | wire type 2).
_TAG_SUBSCRIPTION = b"\x0a"
_TAG_PUBLISH = b"\x12"
_TAG_CONTROL = b"\x1a"
# Message field tags.
_TAG_FROM, _TAG_DATA, _TAG_SEQNO, _TAG_TOPIC, _TAG_SIGNATURE, _TAG_KEY = (
    b"\x0a", b"\x12", b"\x1a", b"\x22", b"\x2a", b"\x32",
)


def _field(tag: bytes, value: bytes) -> bytes:
    return tag + encode_uvarint(len(value)) + value


def encode_message(msg: PubMessage) -> bytes:
    """The serialized ``Message`` (what signatures cover and what mcache keeps)."""
    parts = []
    if msg.from_peer is not None:
        parts.append(_field(_TAG_FROM, msg.from_peer))
    parts.append(_field(_TAG_DATA, msg.data))
    if msg.seqno is not None:
        parts.append(_field(_TAG_SEQNO, msg.seqno))
    parts.append(_field(_TAG_TOPIC, msg.topic.encode()))
    if msg.signature is not None:
        parts.append(_field(_TAG_SIGNATURE, msg.signature))
    if msg.key is not None:
        parts.append(_field(_TAG_KEY, msg.key))
    return b"".join(parts)


def publish_field(msg: PubMessage) -> bytes:
    """``RPC.publish`` field carrying one message: splice-ready for any peer's RPC."""
    return _field(_TAG_PUBLISH, encode_message(msg))


def subscriptions_fields(subs: Iterable[SubOpt]) -> bytes:
    out = []
    for sub in subs:
        body = (b"\x08\x01" if sub.subscribe else b"\x08\x00") + _field(b"\x12", sub.topic.encode())
        out.append(_field(_TAG_SUBSCRIPTION, body))
    return b"".join(out)


def control_field(
    ihave: Iterable[IHave] = (),
    iwant: Iterable[IWant] = (),
    graft: Iterable[Graft] = (),
    prune: Iterable[Prune] = (),
    idontwant: Iterable[IDontWant] = (),
) -> bytes:
    ctrl = pb.ControlMessage()
    for ih in ihave:
        ctrl.ihave.add(topicID=ih.topic, messageIDs=list(ih.message_ids))
    for iw in iwant:
        ctrl.iwant.add(messageIDs=list(iw.message_ids))
    for g in graft:
        ctrl.graft.add(topicID=g.topic)
    for p in prune:
        entry = ctrl.prune.add(topicID=p.topic)
        if p.backoff is not None:
            entry.backoff = p.backoff
        for peer in p.peers:
            info = entry.peers.add(peerID=peer.peer_id)
            if peer.signed_peer_record is not None:
                info.signedPeerRecord = peer.signed_peer_record
    for idw in idontwant:
        ctrl.idontwant.add(messageIDs=list(idw.message_ids))
    body = ctrl.SerializeToString()
    return _field(_TAG_CONTROL, body) if body else b""


def frame_rpc(fields: Iterable[bytes]) -> bytes:
    """Varint-length-prefixed RPC from already-encoded RPC fields."""
    body = b"".join(fields)
    return encode_uvarint(len(body)) + body


def decode_rpc(data: bytes) -> RPC:
    """Parse one RPC frame body. The frame size was bounded by the reader before this call."""
    raw = parse_bounded(pb.RPC(), data, None, "gossipsub RPC")
    messages = tuple(
        PubMessage(
            topic=m.topic,
            data=m.data,
            from_peer=getattr(m, "from") if m.HasField("from") else None,
            seqno=m.seqno if m.HasField("seqno") else None,
            signature=m.signature if m.HasField("signature") else None,
            key=m.key if m.HasField("key") else None,
        )
        for m in raw.publish
    )
    for m in raw.publish:
        if not m.HasField("topic"):
            raise RemoteProtocolError("gossipsub message without a topic", 400)
    subs = tuple(SubOpt(bool(s.subscribe), s.topicid) for s in raw.subscriptions)
    if not raw.HasField("control"):
        return RPC(subscriptions=subs, messages=messages)
    c = raw.control
    return RPC(
        subscriptions=subs,
        messages=messages,
        ihave=tuple(IHave(i.topicID, tuple(i.messageIDs)) for i in c.ihave),
        iwant=tuple(IWant(tuple(i.messageIDs)) for i in c.iwant),
        graft=tuple(Graft(g.topicID) for g in c.graft),
        prune=tuple(
            Prune(
                p.topicID,
                tuple(
                    PrunePeer(i.peerID, i.signedPeerRecord if i.HasField("signedPeerRecord") else None)
                    for i in p.peers
                ),
                p.backoff if p.HasField("backoff") else None,
            )
            for p in c.prune
        ),
        idontwant=tuple(IDontWant(tuple(i.messageIDs)) for i in c.idontwant),
    )
