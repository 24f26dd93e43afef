"""Ethereum Node Records (EIP-778) with the Waku fields of 31/WAKU2-ENR and relay sharding. No I/O.

A record is the RLP list ``[signature, seq, k1, v1, k2, v2, ...]`` with keys sorted and unique,
at most 300 bytes. Only the "v4" identity scheme exists: the signature is secp256k1 ECDSA over
keccak256(rlp([seq, k1, v1, ...])), 64 bytes r || s, and the signer's compressed public key is
the ``secp256k1`` value. The text form is ``enr:`` + unpadded URL-safe base64.

Waku fields:
- ``waku2``: one byte of capability bits (bit 0 relay, 1 store, 2 filter, 3 lightpush, 4 sync,
  5 mix).
- ``multiaddrs``: binary multiaddrs, each prefixed by its length as a big-endian uint16; they carry
  no /p2p/ part (the peer id follows from ``secp256k1``) except circuit-relay addresses.
- ``rs``: cluster id (uint16 BE) + count (1 byte) + shard ids (uint16 BE each).
- ``rsv``: cluster id (uint16 BE) + a 128-byte bit vector, shard s at byte s // 8, bit s % 8
  counted from the least significant bit (as nwaku and go-waku write it).

Decoding verifies the structure and the signature; the Waku and address accessors then check
their own field and raise EnrError if a signed record carries a malformed value.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntFlag

import coincurve
from coincurve.ecdsa import cdata_to_der, deserialize_compact
from Crypto.Hash import keccak
from multiaddr import Multiaddr
from multiaddr.exceptions import Error as MultiaddrError

from . import rlp
from .errors import LocalProtocolError, RemoteProtocolError
from .framing import encode_uvarint

MAX_RECORD_BYTES = 300
TEXT_PREFIX = "enr:"
ID_SCHEME_V4 = b"v4"
MAX_SHARD = 1023
MAX_SHARDS_IN_LIST = 63  # nwaku writes `rs` below 64 shards and `rsv` from 64 on
BIT_VECTOR_BYTES = 128

_URLSAFE_BASE64 = re.compile(r"[A-Za-z0-9_-]*")
# The libp2p /p2p/ component in binary: protocol code 0x01a5 as a varint.
_P2P_CODE = b"\xa5\x03"
# libp2p PublicKey protobuf for a secp256k1 key: Type = 2 (field 1), Data = 33 bytes (field 2).
_LIBP2P_SECP256K1_PREFIX = b"\x08\x02\x12\x21"


class EnrError(RemoteProtocolError):
    """A record that is malformed, too large, unsigned or signed by someone else."""

    def __init__(self, message: str) -> None:
        super().__init__(f"ENR: {message}", 400)


class Capabilities(IntFlag):
    """The ``waku2`` field: which Waku protocols a node serves."""

    RELAY = 1 << 0
    STORE = 1 << 1
    FILTER = 1 << 2
    LIGHTPUSH = 1 << 3
    SYNC = 1 << 4
    MIX = 1 << 5


@dataclass(frozen=True, slots=True)
class RelayShards:
    """The relay shards of one cluster a node serves (``rs`` / ``rsv``)."""

    cluster_id: int
    shard_ids: tuple[int, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.cluster_id <= 0xFFFF:
            raise LocalProtocolError(f"cluster id {self.cluster_id} is not a uint16")
        if any(not 0 <= s <= MAX_SHARD for s in self.shard_ids):
            raise LocalProtocolError(f"shard ids must be in 0..{MAX_SHARD}: {self.shard_ids}")
        if list(self.shard_ids) != sorted(set(self.shard_ids)):
            raise LocalProtocolError("shard ids must be sorted and unique: use RelayShards.of()")

    @classmethod
    def of(cls, cluster_id: int, shard_ids: Iterable[int]) -> RelayShards:
        return cls(cluster_id, tuple(sorted(set(shard_ids))))

    def to_indices_list(self) -> bytes:
        if len(self.shard_ids) > 0xFF:
            raise LocalProtocolError("more than 255 shards do not fit an `rs` list: use the bit vector")
        ids = b"".join(s.to_bytes(2, "big") for s in self.shard_ids)
        return self.cluster_id.to_bytes(2, "big") + bytes([len(self.shard_ids)]) + ids

    def to_bit_vector(self) -> bytes:
        vector = bytearray(BIT_VECTOR_BYTES)
        for s in self.shard_ids:
            vector[s // 8] |= 1 << (s % 8)
        return self.cluster_id.to_bytes(2, "big") + bytes(vector)

    @classmethod
    def from_indices_list(cls, data: bytes) -> RelayShards:
        if len(data) < 3 or len(data) != 3 + 2 * data[2]:
            raise EnrError(f"`rs` of {len(data)} bytes does not match its shard count")
        ids = [int.from_bytes(data[i:i + 2], "big") for i in range(3, len(data), 2)]
        if any(s > MAX_SHARD for s in ids):
            raise EnrError(f"`rs` names a shard above {MAX_SHARD}")
        return cls.of(int.from_bytes(data[:2], "big"), ids)

    @classmethod
    def from_bit_vector(cls, data: bytes) -> RelayShards:
        if len(data) != 2 + BIT_VECTOR_BYTES:
            raise EnrError(f"`rsv` must be {2 + BIT_VECTOR_BYTES} bytes, got {len(data)}")
        ids = [8 * i + bit for i, byte in enumerate(data[2:]) for bit in range(8) if byte >> bit & 1]
        return cls(int.from_bytes(data[:2], "big"), tuple(ids))


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


# -- the record ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Enr:
    """A signed node record. Build with ``sign_enr``/``build_waku_enr``; read with ``decode_enr``
    or ``parse_enr``. ``raw`` is the canonical encoding, the bytes that go on the wire."""

    seq: int
    pairs: tuple[tuple[bytes, rlp.RlpItem], ...]  # sorted by key
    signature: bytes
    raw: bytes

    # generic access
    def get(self, key: str | bytes) -> rlp.RlpItem | None:
        k = key.encode() if isinstance(key, str) else key
        for name, value in self.pairs:
            if name == k:
                return value
        return None

    def _bytes(self, key: str) -> bytes | None:
        value = self.get(key)
        if value is not None and not isinstance(value, bytes):
            raise EnrError(f"`{key}` must be a byte string, not a list")
        return value

    def _port(self, key: str) -> int | None:
        value = self._bytes(key)
        if value is None:
            return None
        try:
            port = rlp.decode_uint(value, 2, f"`{key}`")
        except rlp.RlpError as exc:
            raise EnrError(str(exc)) from None
        return port

    def _ip(self, key: str, size: int) -> str | None:
        value = self._bytes(key)
        if value is None:
            return None
        if len(value) != size:
            raise EnrError(f"`{key}` must be {size} bytes, got {len(value)}")
        return str(ipaddress.ip_address(value))

    # identity
    @property
    def public_key(self) -> bytes:
        """The signer's compressed secp256k1 key (33 bytes); decoding guarantees it is present."""
        key = self._bytes("secp256k1")
        assert key is not None  # checked by decode_enr and sign_enr
        return key

    @property
    def node_id(self) -> bytes:
        """keccak256 of the uncompressed public key (x || y), as discovery v5 uses it."""
        return keccak256(coincurve.PublicKey(self.public_key).format(compressed=False)[1:])

    @property
    def peer_id_bytes(self) -> bytes:
        """The libp2p peer id of the same key: an identity multihash of its protobuf encoding."""
        encoded = _LIBP2P_SECP256K1_PREFIX + self.public_key
        return b"\x00" + bytes([len(encoded)]) + encoded

    @property
    def peer_id(self) -> str:
        """The libp2p peer id in base58 (``16Uiu2...``)."""
        return str(Multiaddr(_p2p_component(self.peer_id_bytes))).removeprefix("/p2p/")

    # EIP-778 endpoint fields
    @property
    def ip(self) -> str | None:
        return self._ip("ip", 4)

    @property
    def ip6(self) -> str | None:
        return self._ip("ip6", 16)

    @property
    def tcp(self) -> int | None:
        return self._port("tcp")

    @property
    def udp(self) -> int | None:
        return self._port("udp")

    @property
    def tcp6(self) -> int | None:
        return self._port("tcp6")

    @property
    def udp6(self) -> int | None:
        return self._port("udp6")

    # Waku fields
    @property
    def waku2(self) -> Capabilities | None:
        value = self._bytes("waku2")
        if value is None:
            return None
        if len(value) != 1:
            raise EnrError(f"`waku2` must be 1 byte, got {len(value)}")
        return Capabilities(value[0])

    @property
    def multiaddrs(self) -> tuple[str, ...]:
        """The ``multiaddrs`` field as text; individual unparseable entries are skipped (as nwaku
        does), a broken length framing is an error."""
        value = self._bytes("multiaddrs")
        return () if value is None else decode_multiaddrs(value)

    @property
    def relay_shards(self) -> RelayShards | None:
        """From ``rs`` if present, else ``rsv`` (nwaku's precedence)."""
        rs = self._bytes("rs")
        if rs is not None:
            return RelayShards.from_indices_list(rs)
        rsv = self._bytes("rsv")
        return None if rsv is None else RelayShards.from_bit_vector(rsv)

    def dial_addrs(self) -> list[str]:
        """Every libp2p address the record offers, each ending in /p2p/<peer id>: ip+tcp,
        ip6+tcp6 (tcp when tcp6 is absent, per EIP-778) and the ``multiaddrs`` entries."""
        peer = self.peer_id
        out: list[str] = []
        ip, tcp = self.ip, self.tcp
        if ip is not None and tcp is not None:
            out.append(f"/ip4/{ip}/tcp/{tcp}")
        ip6, tcp6 = self.ip6, self.tcp6 if self.tcp6 is not None else tcp
        if ip6 is not None and tcp6 is not None:
            out.append(f"/ip6/{ip6}/tcp/{tcp6}")
        out.extend(self.multiaddrs)
        return [_dial_addr(a, peer) for a in out]

    def to_text(self) -> str:
        return TEXT_PREFIX + base64.urlsafe_b64encode(self.raw).rstrip(b"=").decode("ascii")

    def __str__(self) -> str:
        return self.to_text()


def _dial_addr(addr: str, peer: str) -> str:
    # A /p2p/ part marks a circuit-relay address (31/WAKU2-ENR): the hop to us follows it.
    if "/p2p-circuit" in addr:
        return f"{addr}/p2p/{peer}"
    if "/p2p/" in addr:
        return f"{addr}/p2p-circuit/p2p/{peer}"
    return f"{addr}/p2p/{peer}"


def _p2p_component(multihash: bytes) -> bytes:
    return _P2P_CODE + encode_uvarint(len(multihash)) + multihash


# -- multiaddrs field ---------------------------------------------------------------------------
def encode_multiaddrs(addrs: Iterable[str | bytes]) -> bytes:
    """Length-prefixed binary multiaddrs, each without its trailing /p2p/<id> (31/WAKU2-ENR)."""
    out = []
    for addr in addrs:
        raw = _strip_peer_id(addr if isinstance(addr, bytes) else _multiaddr_bytes(addr))
        if not 0 < len(raw) <= 0xFFFF:
            raise LocalProtocolError(f"multiaddr of {len(raw)} bytes cannot be framed")
        out.append(len(raw).to_bytes(2, "big") + raw)
    return b"".join(out)


def _multiaddr_bytes(text: str) -> bytes:
    try:
        return bytes(Multiaddr(text).to_bytes())
    except (MultiaddrError, ValueError, TypeError) as exc:
        raise LocalProtocolError(f"{text!r} is not a multiaddr: {exc}") from None


def _strip_peer_id(raw: bytes) -> bytes:
    """What 31/WAKU2-ENR stores of an address: no /p2p/<our id> (the record's key names us); of a
    circuit-relay address, the relay's own address (``.../p2p/<relay>``)."""
    text = _multiaddr_text(raw)
    if text is None:
        raise LocalProtocolError(f"{raw.hex()} is not a binary multiaddr")
    if "/p2p-circuit" in text:
        text = text[:text.index("/p2p-circuit")]
    elif "/p2p/" in text:
        text = text[:text.rindex("/p2p/")]
    if not text:
        raise LocalProtocolError("a multiaddr of only a peer id says nothing about how to dial")
    return bytes(Multiaddr(text).to_bytes())


def decode_multiaddrs(data: bytes) -> tuple[str, ...]:
    out = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise EnrError("`multiaddrs` ends inside a length prefix")
        size = int.from_bytes(data[pos:pos + 2], "big")
        start, pos = pos + 2, pos + 2 + size
        if size == 0 or pos > len(data):
            raise EnrError("`multiaddrs` has a length that is zero or overruns the field")
        text = _multiaddr_text(data[start:pos])
        if text is not None:
            out.append(text)
    return tuple(out)


def _multiaddr_text(raw: bytes) -> str | None:
    """The text form of one binary multiaddr, or None when it does not parse back to itself
    (the multiaddr package accepts some truncated components)."""
    try:
        addr = Multiaddr(raw)
        if addr.to_bytes() != raw:
            return None
        return str(addr)
    except (MultiaddrError, ValueError, TypeError, KeyError, IndexError):
        return None


# -- signing and encoding -----------------------------------------------------------------------
Value = bytes | int | str | Sequence["Value"]


def _to_item(value: Value) -> rlp.Encodable:
    if isinstance(value, bool):
        raise LocalProtocolError("ENR values are bytes, ints or lists, not bool")
    if isinstance(value, int):
        return rlp.encode_uint(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return value
    return [_to_item(v) for v in value]


def sign_enr(private_key: bytes, seq: int, fields: Mapping[str | bytes, Value]) -> Enr:
    """A v4 record over ``fields`` (``id`` and ``secp256k1`` are set from the key)."""
    if not 0 <= seq < 1 << 64:
        raise LocalProtocolError(f"seq {seq} is not a uint64")
    try:
        secret = coincurve.PrivateKey(private_key)
    except (ValueError, TypeError) as exc:
        raise LocalProtocolError(f"not a secp256k1 private key: {exc}") from None
    items: dict[bytes, rlp.Encodable] = {(k.encode() if isinstance(k, str) else k): _to_item(v)
                                         for k, v in fields.items()}
    items[b"id"] = ID_SCHEME_V4
    items[b"secp256k1"] = secret.public_key.format(compressed=True)
    content: list[rlp.Encodable] = [rlp.encode_uint(seq)]
    for key in sorted(items):
        content += [key, items[key]]
    signature = secret.sign_recoverable(keccak256(rlp.encode(content)), hasher=None)[:64]
    raw = rlp.encode([signature, *content])
    if len(raw) > MAX_RECORD_BYTES:
        raise LocalProtocolError(f"record of {len(raw)} bytes exceeds the ENR limit of {MAX_RECORD_BYTES}")
    return decode_enr(raw)


def build_waku_enr(private_key: bytes, seq: int, *, ip: str | None = None, tcp: int | None = None,
                   udp: int | None = None, ip6: str | None = None, tcp6: int | None = None,
                   udp6: int | None = None, waku2: Capabilities | None = None,
                   multiaddrs: Sequence[str | bytes] = (), shards: RelayShards | None = None,
                   extra: Mapping[str | bytes, Value] | None = None) -> Enr:
    """A Waku node record. Shards go to ``rs`` below 64 shards, else to ``rsv`` (as nwaku)."""
    fields: dict[str | bytes, Value] = dict(extra or {})
    for key, address, size in (("ip", ip, 4), ("ip6", ip6, 16)):
        if address is not None:
            packed = ipaddress.ip_address(address).packed
            if len(packed) != size:
                raise LocalProtocolError(f"`{key}` needs an IPv{4 if size == 4 else 6} address, got {address}")
            fields[key] = packed
    for key, port in (("tcp", tcp), ("udp", udp), ("tcp6", tcp6), ("udp6", udp6)):
        if port is not None:
            if not 0 <= port <= 0xFFFF:
                raise LocalProtocolError(f"`{key}` port {port} out of range")
            fields[key] = port
    if waku2 is not None:
        fields["waku2"] = bytes([int(waku2)])
    if multiaddrs:
        fields["multiaddrs"] = encode_multiaddrs(multiaddrs)
    if shards is not None:
        if len(shards.shard_ids) <= MAX_SHARDS_IN_LIST:
            fields["rs"] = shards.to_indices_list()
        else:
            fields["rsv"] = shards.to_bit_vector()
    return sign_enr(private_key, seq, fields)


# -- decoding and verification ------------------------------------------------------------------
def decode_enr(raw: bytes) -> Enr:
    """Parse and verify a binary record; raises EnrError unless it is a valid v4 record."""
    if len(raw) > MAX_RECORD_BYTES:
        raise EnrError(f"record of {len(raw)} bytes exceeds the limit of {MAX_RECORD_BYTES}")
    try:
        item = rlp.decode(raw, max_bytes=MAX_RECORD_BYTES, max_depth=8)
    except rlp.RlpError as exc:
        raise EnrError(str(exc)) from None
    if isinstance(item, bytes) or len(item) < 2 or len(item) % 2:
        raise EnrError("a record is a list of signature, seq and key/value pairs")
    signature, seq_raw, *rest = item
    if not isinstance(signature, bytes) or not isinstance(seq_raw, bytes):
        raise EnrError("signature and seq must be byte strings")
    try:
        seq = rlp.decode_uint(seq_raw, 8, "seq")
    except rlp.RlpError as exc:
        raise EnrError(str(exc)) from None
    pairs = _pairs(rest)
    enr = Enr(seq, pairs, signature, bytes(raw))
    _verify_v4(enr, rlp.encode([seq_raw, *rest]))
    return enr


def _pairs(flat: Sequence[rlp.RlpItem]) -> tuple[tuple[bytes, rlp.RlpItem], ...]:
    pairs = []
    previous: bytes | None = None
    for i in range(0, len(flat), 2):
        key = flat[i]
        if not isinstance(key, bytes):
            raise EnrError("keys must be byte strings")
        if previous is not None and key <= previous:
            raise EnrError(f"keys must be sorted and unique ({key!r} after {previous!r})")
        previous = key
        pairs.append((key, flat[i + 1]))
    return tuple(pairs)


def _verify_v4(enr: Enr, content: bytes) -> None:
    if enr.get("id") != ID_SCHEME_V4:
        raise EnrError(f"unsupported identity scheme {enr.get('id')!r}")
    key = enr.get("secp256k1")
    if not isinstance(key, bytes) or len(key) != 33:
        raise EnrError("`secp256k1` must be a 33-byte compressed public key")
    if len(enr.signature) != 64:
        raise EnrError(f"a v4 signature is 64 bytes, got {len(enr.signature)}")
    try:
        public = coincurve.PublicKey(key)
        der = cdata_to_der(deserialize_compact(enr.signature))
        valid = public.verify(der, keccak256(content), hasher=None)
    except (ValueError, TypeError) as exc:  # not a curve point, or r/s out of range
        raise EnrError(f"bad key or signature: {exc}") from None
    if not valid:
        raise EnrError("signature does not match the record")


def parse_enr(text: str) -> Enr:
    """A record from its ``enr:`` text form (padding tolerated, other characters refused)."""
    text = text.strip()
    if not text.startswith(TEXT_PREFIX):
        raise EnrError(f"text form must start with {TEXT_PREFIX!r}")
    body = text[len(TEXT_PREFIX):].rstrip("=")
    if len(body) > (MAX_RECORD_BYTES * 4 + 2) // 3:
        raise EnrError("text form longer than any valid record")
    if not _URLSAFE_BASE64.fullmatch(body):  # b64decode with altchars would also take + and /
        raise EnrError("text form is not URL-safe base64")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise EnrError(f"text form is not URL-safe base64: {exc}") from None
    return decode_enr(raw)
