from __future__ import annotations

import base64
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multiaddr import Multiaddr

from w3msg_libp2p.core import rlp
from w3msg_libp2p.core.enr import (
    MAX_RECORD_BYTES,
    Capabilities,
    Enr,
    EnrError,
    RelayShards,
    build_waku_enr,
    decode_enr,
    decode_multiaddrs,
    encode_multiaddrs,
    keccak256,
    parse_enr,
    sign_enr,
)
from w3msg_libp2p.core.errors import LocalProtocolError, RemoteProtocolError

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# EIP-778 "Test Vectors": the example record, its private key and node id.
EIP778_TEXT = (
    "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAA"
    "GJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8"
)
EIP778_KEY = bytes.fromhex("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")
EIP778_NODE_ID = "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7"

# nwaku tests/test_waku_enr.nim: a Waku record with waku2 = relay | store (base64 body only).
NWAKU_WAKU2 = (
    "-Hy4QC73_E3B_FkZhsOakaD4pHe-U--UoGASdG9N0F3SFFUDY_jdQbud8EXVyrlOZ5pZ7VYFBDPMRCENwy87Lh74dFIBgmlkgnY0iXNlY3AyNTZr"
    "MaECvNt1jIWbWGpAWWdlLGYm1E1OjlkQk3ONoxDC5sfw8oOFd2FrdTID"
)
# nwaku: a Status fleet store node's record with `multiaddrs` (and `rs`, `waku2`).
NWAKU_MULTIADDRS = (
    "enr:-QEMuEAs8JmmyUI3b9v_ADqYtELHUYAsAMS21lA2BMtrzF86tVmyy9cCrhmzfHGHx_g3nybn7jIRybzXTGNj3C2KzrriAYJpZIJ2NIJpcISf3"
    "_Jeim11bHRpYWRkcnO4XAArNiZzdG9yZS0wMS5kby1hbXMzLnN0YXR1cy5wcm9kLnN0YXR1cy5pbQZ2XwAtNiZzdG9yZS0wMS5kby1hbXMzLnN0"
    "YXR1cy5wcm9kLnN0YXR1cy5pbQYBu94DgnJzjQAQBQABACAAQACAAQCJc2VjcDI1NmsxoQLfoaQH3oSYW59yxEBfeAZbltmUnC4BzYkHqer2VQMT"
    "yoN0Y3CCdl-DdWRwgiMohXdha3UyAw"
)
# The same node's libp2p id, as nwaku's apps/sonda configuration dials it.
NWAKU_STORE_PEER_ID = "16Uiu2HAmAUdrQ3uwzuE4Gy4D56hX6uLKEeerJAnhKEHZ3DxF1EfT"
# nwaku: an Ethereum (non-Waku) record, with an `eth2` field and no `waku2`.
ETH_RECORD = (
    "enr:-KG4QOtcP9X1FbIMOe17QNMKqDxCpm14jcX5tiOE4_TyMrFqbmhPZHK_ZPG2Gxb1GE2xdtodOfx9-cgvNtxnRyHEmC0ghGV0aDKQ9aX9QgAAAA"
    "D__________4JpZIJ2NIJpcIQDE8KdiXNlY3AyNTZrMaEDhpehBDbZjM_L9ek699Y7vhUJ-eAdMyQW_Fil522Y0fODdGNwgiMog3VkcIIjKA"
)

private_keys = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
ports = st.none() | st.integers(0, 0xFFFF)
KEY = (7).to_bytes(32, "big")


# -- EIP-778 ------------------------------------------------------------------------------------
def test_eip778_example_decodes_and_verifies() -> None:
    enr = parse_enr(EIP778_TEXT)
    assert enr.seq == 1
    assert enr.get("id") == b"v4"
    assert enr.ip == "127.0.0.1"
    assert enr.udp == 30303
    assert enr.tcp is None and enr.ip6 is None and enr.waku2 is None
    assert enr.node_id.hex() == EIP778_NODE_ID
    assert [k for k, _ in enr.pairs] == [b"id", b"ip", b"secp256k1", b"udp"]


def test_eip778_example_is_reproduced_from_its_fields_and_key() -> None:
    enr = build_waku_enr(EIP778_KEY, 1, ip="127.0.0.1", udp=30303)
    assert enr.to_text() == EIP778_TEXT
    assert enr == parse_enr(EIP778_TEXT)


def test_keccak_is_not_sha3() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


# -- records from nwaku's tests -----------------------------------------------------------------
def test_nwaku_waku2_record() -> None:
    enr = parse_enr("enr:" + NWAKU_WAKU2)
    assert enr.waku2 == Capabilities.RELAY | Capabilities.STORE


def test_nwaku_record_with_multiaddrs_and_shards() -> None:
    enr = parse_enr(NWAKU_MULTIADDRS)
    assert enr.multiaddrs == (
        "/dns4/store-01.do-ams3.status.prod.status.im/tcp/30303",
        "/dns4/store-01.do-ams3.status.prod.status.im/tcp/443/wss",
    )
    assert enr.relay_shards == RelayShards(16, (1, 32, 64, 128, 256))
    assert enr.waku2 == Capabilities.RELAY | Capabilities.STORE
    assert (enr.ip, enr.tcp, enr.udp) == ("159.223.242.94", 30303, 9000)
    assert enr.peer_id == NWAKU_STORE_PEER_ID
    assert enr.dial_addrs() == [
        f"/ip4/159.223.242.94/tcp/30303/p2p/{NWAKU_STORE_PEER_ID}",
        f"/dns4/store-01.do-ams3.status.prod.status.im/tcp/30303/p2p/{NWAKU_STORE_PEER_ID}",
        f"/dns4/store-01.do-ams3.status.prod.status.im/tcp/443/wss/p2p/{NWAKU_STORE_PEER_ID}",
    ]


def test_ethereum_record_has_no_waku_fields() -> None:
    enr = parse_enr(ETH_RECORD)
    assert enr.waku2 is None and enr.relay_shards is None and enr.multiaddrs == ()
    assert enr.get("eth2") is not None
    assert (enr.ip, enr.tcp, enr.udp) == ("3.19.194.157", 9000, 9000)


# -- Waku field encodings -----------------------------------------------------------------------
def test_capability_bits() -> None:
    assert Capabilities(0b0000_1101) == Capabilities.RELAY | Capabilities.FILTER | Capabilities.LIGHTPUSH
    assert [int(c) for c in Capabilities] == [1, 2, 4, 8, 16, 32]
    enr = build_waku_enr(KEY, 1, waku2=Capabilities.RELAY | Capabilities.MIX)
    assert enr.get("waku2") == b"\x21"


def test_shard_encodings_match_nwaku() -> None:
    # nwaku tests/waku_enr/test_sharding.nim: index list and bit vector for cluster 73, shards 1 and 10
    index_list = bytes([0, 73, 2, 0, 1, 0, 10])
    bit_vector = bytes([0, 73, 2, 4]) + bytes(126)
    expected = RelayShards(73, (1, 10))
    assert RelayShards.from_indices_list(index_list) == expected
    assert RelayShards.from_bit_vector(bit_vector) == expected
    assert expected.to_indices_list() == index_list
    assert expected.to_bit_vector() == bit_vector


def test_rs_below_64_shards_rsv_from_64() -> None:
    few = build_waku_enr(KEY, 1, shards=RelayShards.of(1, range(8)))
    assert few.get("rs") is not None and few.get("rsv") is None
    many = build_waku_enr(KEY, 1, shards=RelayShards.of(33, range(64)))
    assert many.get("rsv") is not None and many.get("rs") is None
    assert many.relay_shards == RelayShards.of(33, range(64))


def test_rs_takes_precedence_over_rsv() -> None:
    enr = sign_enr(KEY, 1, {"rs": RelayShards.of(22, [1, 2]).to_indices_list(),
                            "rsv": RelayShards.of(33, [13, 24]).to_bit_vector()})
    assert enr.relay_shards == RelayShards(22, (1, 2))


def test_relay_shards_validation() -> None:
    assert RelayShards.of(1, [3, 1, 3]) == RelayShards(1, (1, 3))
    with pytest.raises(LocalProtocolError):
        RelayShards.of(1, [1024])
    with pytest.raises(LocalProtocolError):
        RelayShards.of(70000, [0])
    with pytest.raises(LocalProtocolError):
        RelayShards(1, (2, 1))
    for data in (b"\x00\x01", b"\x00\x01\x02\x00\x01", b"\x00\x01\x01\x04\x00"):
        with pytest.raises(EnrError):
            RelayShards.from_indices_list(data)
    with pytest.raises(EnrError):
        RelayShards.from_bit_vector(bytes(129))


def test_multiaddrs_field_strips_our_peer_id_and_keeps_relay_hops() -> None:
    peer = "16Uiu2HAm4v86W3bmT1BiH6oSPzcsSr31iDQpSN5Qa882BCjjwgrD"
    relay = NWAKU_STORE_PEER_ID
    field = encode_multiaddrs([f"/ip4/127.0.0.1/tcp/80/ws/p2p/{peer}", "/ip4/127.0.0.1/tcp/443/wss",
                               f"/ip4/1.2.3.4/tcp/55555/p2p/{relay}/p2p-circuit/p2p/{peer}"])
    assert decode_multiaddrs(field) == ("/ip4/127.0.0.1/tcp/80/ws", "/ip4/127.0.0.1/tcp/443/wss",
                                        f"/ip4/1.2.3.4/tcp/55555/p2p/{relay}")
    # length prefixes are big-endian uint16
    first_len = int.from_bytes(field[:2], "big")
    assert field[2:2 + first_len] == bytes.fromhex("047f000001060050dd03")
    enr = build_waku_enr(KEY, 1, multiaddrs=[f"/ip4/1.2.3.4/tcp/55555/p2p/{relay}/p2p-circuit"])
    assert enr.dial_addrs() == [f"/ip4/1.2.3.4/tcp/55555/p2p/{relay}/p2p-circuit/p2p/{enr.peer_id}"]


def test_multiaddrs_field_framing_errors_and_unknown_entries() -> None:
    good = encode_multiaddrs(["/ip4/10.0.0.1/tcp/1/ws"])
    for broken in (b"\x00", b"\x00\x00", b"\x00\x09\x04", good + b"\x00"):
        with pytest.raises(EnrError):
            decode_multiaddrs(broken)
    # an entry that is not a multiaddr is skipped, as nwaku does
    assert decode_multiaddrs(b"\x00\x02\xff\xff" + good) == ("/ip4/10.0.0.1/tcp/1/ws",)


def test_ipv6_uses_tcp_when_there_is_no_tcp6() -> None:
    enr = build_waku_enr(KEY, 1, ip6="::1", tcp=60000)
    assert enr.dial_addrs() == [f"/ip6/::1/tcp/60000/p2p/{enr.peer_id}"]


# -- round trips --------------------------------------------------------------------------------
multiaddr_texts = st.one_of(
    st.builds("/ip4/{}/tcp/{}/ws".format, st.ip_addresses(v=4), st.integers(0, 0xFFFF)),
    st.builds("/dns4/{}/tcp/{}/wss".format, st.sampled_from(["a.example", "node-01.waku.org"]), st.integers(1, 0xFFFF)),
    st.builds("/ip6/{}/tcp/{}".format, st.ip_addresses(v=6), st.integers(0, 0xFFFF)),
)
shard_sets = st.builds(RelayShards.of, st.integers(0, 0xFFFF), st.lists(st.integers(0, 1023), max_size=80))


@given(private_keys, st.integers(0, 2**64 - 1), st.none() | st.ip_addresses(v=4).map(str), ports, ports,
       st.none() | st.ip_addresses(v=6).map(str), ports, st.none() | st.integers(0, 255).map(Capabilities),
       st.lists(multiaddr_texts, max_size=2), st.none() | shard_sets)
def test_round_trip(key: bytes, seq: int, ip: str | None, tcp: int | None, udp: int | None, ip6: str | None,
                    tcp6: int | None, waku2: Capabilities | None, multiaddrs: list[str],
                    shards: RelayShards | None) -> None:
    try:
        enr = build_waku_enr(key, seq, ip=ip, tcp=tcp, udp=udp, ip6=ip6, tcp6=tcp6, waku2=waku2,
                             multiaddrs=multiaddrs, shards=shards)
    except LocalProtocolError as exc:
        assert "exceeds the ENR limit of 300" in str(exc)
        return
    assert len(enr.raw) <= MAX_RECORD_BYTES
    assert decode_enr(enr.raw) == enr
    assert parse_enr(enr.to_text()) == enr
    assert (enr.seq, enr.ip, enr.tcp, enr.udp, enr.tcp6, enr.waku2) == (seq, ip, tcp, udp, tcp6, waku2)
    assert enr.ip6 == (None if ip6 is None else str(ipaddress.ip_address(ip6)))
    # compared as bytes: text forms differ for some addresses (::ffff:0:0 is printed ::ffff:0.0.0.0)
    assert [Multiaddr(m).to_bytes() for m in enr.multiaddrs] == [Multiaddr(m).to_bytes() for m in multiaddrs]
    assert enr.relay_shards == shards
    assert enr.get("secp256k1") == enr.public_key


# -- verification -------------------------------------------------------------------------------
EIP778_RAW = parse_enr(EIP778_TEXT).raw


@given(st.integers(0, len(EIP778_RAW) - 1), st.integers(1, 255))
def test_any_changed_byte_is_detected(position: int, mask: int) -> None:
    tampered = bytearray(EIP778_RAW)
    tampered[position] ^= mask
    with pytest.raises(EnrError):
        decode_enr(bytes(tampered))


def _resign(enr: Enr, signature: bytes, pairs: dict[bytes, rlp.RlpItem] | None = None) -> bytes:
    fields = dict(enr.pairs) if pairs is None else pairs
    flat = [x for k in sorted(fields) for x in (k, fields[k])]
    return rlp.encode([signature, rlp.encode_uint(enr.seq), *flat])


def test_another_key_or_a_malleated_signature_is_refused() -> None:
    enr = build_waku_enr(KEY, 3, ip="10.0.0.1", tcp=1)
    other = build_waku_enr((8).to_bytes(32, "big"), 3)
    with pytest.raises(EnrError, match="signature does not match"):
        decode_enr(_resign(enr, enr.signature, {**dict(enr.pairs), b"secp256k1": other.public_key}))
    r, s = enr.signature[:32], int.from_bytes(enr.signature[32:], "big")
    high_s = r + (SECP256K1_N - s).to_bytes(32, "big")  # the same signature, in its malleable form
    with pytest.raises(EnrError):
        decode_enr(_resign(enr, high_s))
    with pytest.raises(EnrError, match="64 bytes"):
        decode_enr(_resign(enr, enr.signature + b"\x00"))


def test_structural_errors() -> None:
    enr = build_waku_enr(KEY, 1)
    pairs = dict(enr.pairs)
    unsorted = rlp.encode([enr.signature, b"\x01", b"secp256k1", pairs[b"secp256k1"], b"id", b"v4"])
    with pytest.raises(EnrError, match="sorted"):
        decode_enr(unsorted)
    with pytest.raises(EnrError, match="identity scheme"):
        decode_enr(_resign(enr, enr.signature, {**pairs, b"id": b"v5"}))
    with pytest.raises(EnrError, match="33-byte"):
        decode_enr(_resign(enr, enr.signature, {k: v for k, v in pairs.items() if k != b"secp256k1"}))
    with pytest.raises(EnrError, match="list"):
        decode_enr(rlp.encode(b"not a list"))
    with pytest.raises(EnrError, match="leading zero"):
        decode_enr(rlp.encode([enr.signature, b"\x00\x01", b"id", b"v4"]))


def test_size_limit() -> None:
    many = [f"/dns4/node-{i:02d}.example.org/tcp/443/wss" for i in range(10)]
    with pytest.raises(LocalProtocolError, match="exceeds the ENR limit"):
        build_waku_enr(KEY, 1, multiaddrs=many)
    oversized = rlp.encode([bytes(64), b"\x01", b"id", b"v4", b"x", bytes(240)])
    assert len(oversized) > MAX_RECORD_BYTES
    with pytest.raises(EnrError, match="exceeds the limit of 300"):
        decode_enr(oversized)


def test_malformed_fields_in_a_signed_record_raise_typed_errors() -> None:
    cases = {"tcp": b"\x00\x50", "udp": b"\x01\x00\x00", "ip": b"\x01\x02\x03", "ip6": bytes(4),
             "waku2": b"\x01\x02", "multiaddrs": b"\x00", "rs": b"\x00\x01\x05"}
    for key, value in cases.items():
        enr = sign_enr(KEY, 1, {key: value})
        with pytest.raises(EnrError):
            _ = (enr.tcp, enr.udp, enr.ip, enr.ip6, enr.waku2, enr.multiaddrs, enr.relay_shards)
    listed = sign_enr(KEY, 1, {"tcp": [b"\x01"]})
    with pytest.raises(EnrError, match="not a list"):
        _ = listed.tcp


def test_text_form() -> None:
    body = EIP778_TEXT.removeprefix("enr:")
    assert parse_enr("enr:" + body + "=" * (-len(body) % 4)) == parse_enr(EIP778_TEXT)  # padding tolerated
    for bad in (body, "enr:" + body.replace("-", "+"), "enr:" + body[:-2] + "!!", "enr:" + "A" * 1000):
        with pytest.raises(EnrError):
            parse_enr(bad)
    std = base64.b64encode(parse_enr(EIP778_TEXT).raw).decode()
    assert "+" in std or "/" in std  # the vector exercises the URL-safe alphabet
    assert str(parse_enr(EIP778_TEXT)) == EIP778_TEXT


@given(st.binary(max_size=400))
def test_binary_garbage_raises_only_enr_errors(data: bytes) -> None:
    with pytest.raises(EnrError):
        decode_enr(data)


rlp_lists = st.lists(st.recursive(st.binary(max_size=40), lambda inner: st.lists(inner, max_size=3), max_leaves=8),
                     max_size=10)


@given(rlp_lists)
def test_well_formed_rlp_that_is_not_a_record_raises_only_enr_errors(items: list[rlp.Encodable]) -> None:
    with pytest.raises(EnrError):
        decode_enr(rlp.encode(items))


@given(st.text(max_size=200))
def test_text_garbage_raises_only_enr_errors(text: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_enr("enr:" + text)
    assert isinstance(info.value, EnrError)


def test_building_refuses_bad_input() -> None:
    with pytest.raises(LocalProtocolError):
        build_waku_enr(bytes(32), 1)  # zero is not a private key
    with pytest.raises(LocalProtocolError):
        build_waku_enr(KEY, 2**64)
    with pytest.raises(LocalProtocolError):
        build_waku_enr(KEY, 1, ip="::1")
    with pytest.raises(LocalProtocolError):
        build_waku_enr(KEY, 1, tcp=70000)
    with pytest.raises(LocalProtocolError):
        build_waku_enr(KEY, 1, multiaddrs=["not a multiaddr"])
