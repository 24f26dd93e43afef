"""Signed gossipsub messages (StrictSign, the libp2p default): authoring, verification, and the
router enforcing each signature policy, through the in-memory RouterNet."""

from __future__ import annotations

import dataclasses
import random

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from libp2p.crypto.ed25519 import create_new_key_pair as new_ed25519
from libp2p.crypto.secp256k1 import create_new_key_pair as new_secp256k1

from w3msg_libp2p.core.errors import ConfigError
from w3msg_libp2p.core.peer_keys import PeerPublicKey, peer_id_to_base58
from w3msg_libp2p.pb import peer_key_pb2 as pb
from w3msg_libp2p.protocols.relay import codec
from w3msg_libp2p.protocols.relay.params import GossipParams
from w3msg_libp2p.protocols.relay.router import GossipRouter
from w3msg_libp2p.protocols.relay.rpc import PubMessage
from w3msg_libp2p.protocols.relay.signing import (
    SIGNING_PREFIX,
    Author,
    SignaturePolicy,
    author_seqno_message_id,
    signature_problem,
)
from w3msg_libp2p.testing import RouterNet

TOPIC = "chat"


def author_of(make: object = new_secp256k1) -> Author:
    pair = make()  # type: ignore[operator]
    return Author(pair.public_key.serialize(), pair.private_key.sign)


@pytest.mark.parametrize("make", [new_ed25519, new_secp256k1], ids=["ed25519", "secp256k1"])
def test_authored_messages_verify_and_tampering_is_caught(make: object) -> None:
    author = author_of(make)
    msg = author.author(TOPIC, b"hello")
    assert msg.from_peer == author.peer_id and msg.key is None  # the key is inlined in the peer id
    assert len(msg.seqno or b"") == 8
    assert signature_problem(msg) is None
    assert signature_problem(dataclasses.replace(msg, data=b"hellO")) == "invalid_signature"
    assert signature_problem(dataclasses.replace(msg, topic="other")) == "invalid_signature"
    assert signature_problem(dataclasses.replace(msg, signature=None)) == "missing_signature"
    assert signature_problem(dataclasses.replace(msg, seqno=None)) == "missing_author_or_seqno"
    other = author_of(make)
    assert signature_problem(dataclasses.replace(msg, from_peer=other.peer_id)) == "invalid_signature"
    assert signature_problem(dataclasses.replace(msg, key=other.public_key)) == "key_does_not_match_author"
    assert signature_problem(dataclasses.replace(msg, from_peer=b"\x99junk")) == "malformed_author_or_key"


def test_seqnos_increase_and_ids_are_author_plus_seqno() -> None:
    author = author_of()
    first, second = author.author(TOPIC, b"a"), author.author(TOPIC, b"a")
    assert int.from_bytes(second.seqno or b"", "big") == int.from_bytes(first.seqno or b"", "big") + 1
    assert author_seqno_message_id(first) == author.peer_id + (first.seqno or b"")
    assert author_seqno_message_id(first) != author_seqno_message_id(second)


def test_rsa_authors_carry_their_key_and_it_must_hash_to_the_peer_id() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    author = Author(PeerPublicKey(pb.RSA, der).serialize(),
                    lambda data: private.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    msg = author.author(TOPIC, b"big key")
    assert msg.key == author.public_key
    assert signature_problem(msg) is None
    assert signature_problem(dataclasses.replace(msg, key=None)) == "missing_public_key"
    assert signature_problem(dataclasses.replace(msg, key=author_of().public_key)) == "key_does_not_match_author"


def test_the_signature_covers_the_canonical_message_without_signature_and_key() -> None:
    author = author_of()
    msg = author.author(TOPIC, b"x")
    unsigned = codec.encode_message(dataclasses.replace(msg, signature=None, key=None))
    pair_key = PeerPublicKey(pb.Secp256k1, author.public_key[4:])  # strip the protobuf header (type, length)
    assert pair_key.verify(SIGNING_PREFIX + unsigned, msg.signature or b"")


def strict_sign_net() -> RouterNet:
    net = RouterNet()
    for name in ("n0", "n1", "n2"):
        net.add(name, signature_policy=SignaturePolicy.STRICT_SIGN, author=author_of(),
                message_id=author_seqno_message_id)
    net.connect("n0", "n1")
    net.connect("n1", "n2")
    net.subscribe_all(TOPIC)
    net.pump()
    return net


def test_signed_messages_cross_a_strict_sign_line() -> None:
    net = strict_sign_net()
    for _ in range(5):
        net.routers["n0"].publish(TOPIC, b"same data", net.clock.now)  # same data, new seqno: new message
        net.pump()
    assert [d.data for d in net.delivered["n2"]] == [b"same data"] * 5
    assert net.routers["n1"].stats.drops == {}


def test_strict_sign_rejects_unsigned_and_forged_messages_and_penalises_the_sender() -> None:
    net = strict_sign_net()
    n1 = net.routers["n1"]
    forged = dataclasses.replace(author_of().author(TOPIC, b"x"), data=b"forged")
    for msg in (PubMessage(TOPIC, b"anonymous"), forged):
        n1.handle_rpc("n0", codec.decode_rpc(codec.publish_field(msg)), net.clock.now)
    assert n1.stats.drops["rejected:missing_signature"] == 1
    assert n1.stats.drops["rejected:invalid_signature"] == 1
    assert n1.score.score("n0") < 0
    net.pump()
    assert net.delivered["n2"] == []  # nothing invalid is forwarded


def test_a_router_refuses_a_policy_without_the_right_author() -> None:
    with pytest.raises(ConfigError):
        GossipRouter(GossipParams(), rng=random.Random(1), signature_policy=SignaturePolicy.STRICT_SIGN)
    with pytest.raises(ConfigError):
        GossipRouter(GossipParams(), rng=random.Random(1), author=author_of())
    with pytest.raises(ConfigError):
        SignaturePolicy.parse("sign-sometimes")


def test_a_message_is_never_forwarded_back_to_its_author() -> None:
    """go-libp2p-pubsub rejects its own messages coming back (RejectSelfOrigin) and penalises us."""
    authors = [author_of() for _ in range(3)]
    names = [peer_id_to_base58(a.peer_id) for a in authors]
    net = RouterNet()
    for name, author in zip(names, authors, strict=True):
        net.add(name, signature_policy=SignaturePolicy.STRICT_SIGN, author=author,
                message_id=author_seqno_message_id)
    origin, relay, other = names
    for a, b in ((origin, relay), (relay, other), (other, origin)):
        net.connect(a, b)
    net.subscribe_all(TOPIC)
    net.pump()
    net.heartbeat(2)
    assert net.routers[relay].mesh[TOPIC] == {origin, other}
    msg = authors[0].author(TOPIC, b"from origin")
    before = net.routers[relay].stats.messages_forwarded
    net.routers[relay].handle_rpc(other, codec.decode_rpc(codec.publish_field(msg)), net.clock.now)
    assert net.routers[relay].stats.messages_forwarded == before  # not to `other` (sender), not to origin
    assert net.routers[relay].drain(origin) == []
