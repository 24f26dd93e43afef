"""libp2p public keys and peer ids (w3msg_libp2p.core.peer_keys), checked against keys and
signatures made by independent code: py-libp2p's key pairs, `cryptography` and `coincurve`."""

from __future__ import annotations

import hashlib

import coincurve
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from libp2p.crypto.ed25519 import create_new_key_pair as new_ed25519
from libp2p.crypto.secp256k1 import create_new_key_pair as new_secp256k1
from libp2p.peer.id import ID

from w3msg_libp2p.core.errors import RemoteProtocolError
from w3msg_libp2p.core.peer_keys import (
    PeerPublicKey,
    decode_public_key,
    inlined_public_key,
    peer_id_bytes,
    peer_id_to_base58,
)
from w3msg_libp2p.pb import peer_key_pb2 as pb

DATA = b"libp2p-pubsub:" + b"\x01" * 40


@pytest.mark.parametrize("make", [new_ed25519, new_secp256k1], ids=["ed25519", "secp256k1"])
def test_py_libp2p_keys_give_the_same_peer_id_and_verify(make: object) -> None:
    pair = make()  # type: ignore[operator]
    serialized = pair.public_key.serialize()
    pid = peer_id_bytes(serialized)
    assert pid == ID.from_pubkey(pair.public_key).to_bytes()
    assert peer_id_to_base58(pid) == ID.from_pubkey(pair.public_key).to_base58()
    assert inlined_public_key(pid) == serialized
    key = decode_public_key(serialized)
    signature = pair.private_key.sign(DATA)
    assert key.verify(DATA, signature)
    assert not key.verify(DATA + b"!", signature)
    assert not key.verify(DATA, signature[:-1] + bytes([signature[-1] ^ 1]))


def _der(public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_rsa_keys_are_hashed_into_the_peer_id_and_verify_pkcs1_sha256() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    serialized = PeerPublicKey(pb.RSA, _der(private.public_key())).serialize()
    pid = peer_id_bytes(serialized)
    assert pid == b"\x12\x20" + hashlib.sha256(serialized).digest()
    assert peer_id_to_base58(pid) == ID(pid).to_base58() and peer_id_to_base58(pid).startswith("Qm")
    assert inlined_public_key(pid) is None
    signature = private.sign(DATA, padding.PKCS1v15(), hashes.SHA256())
    key = decode_public_key(serialized)
    assert key.type_name == "rsa"
    assert key.verify(DATA, signature)
    assert not key.verify(DATA + b"!", signature)


def test_ecdsa_p256_verifies_der_signatures_over_sha256() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key = decode_public_key(PeerPublicKey(pb.ECDSA, _der(private.public_key())).serialize())
    assert key.verify(DATA, private.sign(DATA, ec.ECDSA(hashes.SHA256())))
    assert not key.verify(b"other", private.sign(DATA, ec.ECDSA(hashes.SHA256())))


def test_signatures_by_independent_ed25519_and_secp256k1_code() -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    raw = ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert PeerPublicKey(pb.Ed25519, raw).verify(DATA, ed.sign(DATA))
    k1 = coincurve.PrivateKey()
    assert PeerPublicKey(pb.Secp256k1, k1.public_key.format()).verify(DATA, k1.sign(DATA))
    # a key of one type never verifies a signature made for another
    assert not PeerPublicKey(pb.Secp256k1, k1.public_key.format()).verify(DATA, ed.sign(DATA))


@pytest.mark.parametrize("garbage", [b"", b"\x08\x07\x12\x01x", b"\x08\x01", b"\xff\xff\xff"])
def test_malformed_keys_are_protocol_errors(garbage: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_public_key(garbage)


def test_a_key_with_malformed_data_does_not_verify() -> None:
    assert not PeerPublicKey(pb.Secp256k1, b"\x02" + b"\x00" * 10).verify(DATA, b"\x30\x06")
    assert not PeerPublicKey(pb.RSA, b"not der").verify(DATA, b"sig")


@pytest.mark.parametrize("bad", [b"", b"\x00", b"\x00\x05abc", b"\x12\x20short", b"\x13\x20" + b"\x00" * 32])
def test_bytes_that_are_not_a_peer_id_are_refused(bad: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        inlined_public_key(bad)
