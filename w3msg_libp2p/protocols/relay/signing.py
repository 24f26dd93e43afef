"""Message authorship for gossipsub's two signature policies (libp2p pubsub spec, "Message signing").

StrictNoSign (Waku relay): messages carry no from/seqno/signature/key, ids are computed from the
data. StrictSign (the libp2p default): every message carries its author's peer id, a sequence
number and a signature over ``"libp2p-pubsub:" + the Message without signature and key``; the key
travels in ``key`` only when the peer id does not inline it. Ids are from + seqno.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum

from ...core.errors import ConfigError, RemoteProtocolError
from ...core.peer_keys import decode_public_key, inlined_public_key, peer_id_bytes
from .codec import encode_message
from .rpc import PubMessage

SIGNING_PREFIX = b"libp2p-pubsub:"
SEQNO_BYTES = 8


class SignaturePolicy(Enum):
    STRICT_NO_SIGN = "strict-no-sign"
    STRICT_SIGN = "strict-sign"

    @classmethod
    def parse(cls, value: str) -> SignaturePolicy:
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(f"signature policy must be one of {[p.value for p in cls]}, not {value!r}") from None


@dataclass
class Author:
    """Signs our own messages. ``sign`` is the private key's libp2p signing function (it hashes
    as the key type requires); ``seqno`` starts at the wall clock in ns, as go-libp2p does, so a
    restarted node does not reuse sequence numbers."""

    public_key: bytes  # the serialized (protobuf) public key
    sign: Callable[[bytes], bytes]
    seqno: int = field(default_factory=time.time_ns)
    peer_id: bytes = field(init=False)
    _key_field: bytes | None = field(init=False)

    def __post_init__(self) -> None:
        self.peer_id = peer_id_bytes(self.public_key)
        self._key_field = None if inlined_public_key(self.peer_id) is not None else self.public_key

    def author(self, topic: str, data: bytes) -> PubMessage:
        self.seqno = (self.seqno + 1) % (1 << 64)
        unsigned = PubMessage(topic, data, from_peer=self.peer_id, seqno=self.seqno.to_bytes(SEQNO_BYTES, "big"))
        signature = self.sign(SIGNING_PREFIX + encode_message(unsigned))
        return replace(unsigned, signature=signature, key=self._key_field)


def signature_problem(msg: PubMessage) -> str | None:
    """Why ``msg`` fails StrictSign, or None if its signature is valid for its author."""
    if msg.signature is None:
        return "missing_signature"
    if msg.from_peer is None or msg.seqno is None:
        return "missing_author_or_seqno"
    try:
        inlined = inlined_public_key(msg.from_peer)
        if inlined is not None:
            if msg.key is not None and msg.key != inlined:
                return "key_does_not_match_author"
            serialized = inlined
        elif msg.key is None:
            return "missing_public_key"
        elif peer_id_bytes(msg.key) != msg.from_peer:
            return "key_does_not_match_author"
        else:
            serialized = msg.key
        key = decode_public_key(serialized)
    except RemoteProtocolError:
        return "malformed_author_or_key"
    unsigned = replace(msg, signature=None, key=None)
    if not key.verify(SIGNING_PREFIX + encode_message(unsigned), msg.signature):
        return "invalid_signature"
    return None


def author_seqno_message_id(msg: PubMessage) -> bytes:
    """The libp2p default message id: the author's peer id followed by the seqno."""
    return (msg.from_peer or b"") + (msg.seqno or b"")
