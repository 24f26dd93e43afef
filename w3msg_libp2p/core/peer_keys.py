"""libp2p public keys and peer ids, without libp2p: what verifying a signed pubsub message needs.

A peer id is a multihash of the protobuf-serialized public key: the key itself (identity
multihash) when it is at most 42 bytes (Ed25519, Secp256k1), else its sha256 (RSA, ECDSA), in
which case the message must carry the key. Signatures follow the libp2p peer-ids spec: Ed25519
over the data, Secp256k1 and ECDSA (DER) over its sha256, RSA PKCS#1 v1.5 with SHA-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import coincurve
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ..pb import peer_key_pb2 as pb
from .errors import RemoteProtocolError
from .protobuf import parse_bounded

MAX_INLINE_KEY_LENGTH = 42
MAX_PUBLIC_KEY_BYTES = 4096  # an RSA-8192 key in PKIX DER is about 1.1 KiB
_IDENTITY, _SHA256 = 0x00, 0x12
KEY_TYPE_NAMES: dict[int, str] = {pb.RSA: "rsa", pb.Ed25519: "ed25519", pb.Secp256k1: "secp256k1", pb.ECDSA: "ecdsa"}


@dataclass(frozen=True, slots=True)
class PeerPublicKey:
    key_type: int
    data: bytes

    @property
    def type_name(self) -> str:
        return KEY_TYPE_NAMES.get(self.key_type, f"unknown({self.key_type})")

    def serialize(self) -> bytes:
        return pb.PublicKey(Type=self.key_type, Data=self.data).SerializeToString()  # type: ignore[arg-type]

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True if ``signature`` by this key covers ``data``; False for a bad or malformed one."""
        try:
            if self.key_type == pb.Ed25519:
                ed25519.Ed25519PublicKey.from_public_bytes(self.data).verify(signature, data)
                return True
            if self.key_type == pb.Secp256k1:
                return bool(coincurve.PublicKey(self.data).verify(signature, data))
            key = serialization.load_der_public_key(self.data)
            if self.key_type == pb.ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
                return True
            if self.key_type == pb.RSA and isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
                return True
        except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
            return False
        return False


def decode_public_key(serialized: bytes) -> PeerPublicKey:
    """Raises RemoteProtocolError for a malformed or unknown key."""
    msg = parse_bounded(pb.PublicKey(), serialized, MAX_PUBLIC_KEY_BYTES, "public key")
    if not msg.HasField("Type") or not msg.HasField("Data") or msg.Type not in KEY_TYPE_NAMES:
        raise RemoteProtocolError("public key without a known type or data", 400)
    return PeerPublicKey(int(msg.Type), bytes(msg.Data))


def peer_id_bytes(serialized_key: bytes) -> bytes:
    """The binary peer id of a serialized public key."""
    if len(serialized_key) <= MAX_INLINE_KEY_LENGTH:
        return bytes([_IDENTITY, len(serialized_key)]) + serialized_key
    return bytes([_SHA256, 32]) + hashlib.sha256(serialized_key).digest()


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def peer_id_to_base58(peer_id: bytes) -> str:
    """The text form of a binary peer id (base58btc, as every libp2p implementation prints it)."""
    n = int.from_bytes(peer_id, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(peer_id) - len(peer_id.lstrip(b"\0"))) + out


def inlined_public_key(peer_id: bytes) -> bytes | None:
    """The serialized key an identity-multihash peer id carries; None for a hashed one.
    Raises RemoteProtocolError for bytes that are not a peer id."""
    if len(peer_id) >= 2 and peer_id[0] == _IDENTITY and peer_id[1] == len(peer_id) - 2:
        return peer_id[2:]
    if len(peer_id) == 34 and peer_id[0] == _SHA256 and peer_id[1] == 32:
        return None
    raise RemoteProtocolError("not a peer id (neither identity nor sha256 multihash)", 400)
