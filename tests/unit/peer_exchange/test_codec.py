from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from w3msg_libp2p.core.enr import build_waku_enr
from w3msg_libp2p.core.errors import LocalProtocolError, RemoteProtocolError
from w3msg_libp2p.protocols.peer_exchange.codec import (
    MAX_REQUEST_BYTES,
    decode_query,
    decode_response,
    encode_query,
    encode_response,
    parse_enrs,
    refuse,
)
from w3msg_libp2p.protocols.peer_exchange.rpc import PeerExchangeQuery, PeerExchangeResponse, StatusCode

responses = st.builds(
    PeerExchangeResponse,
    enrs=st.lists(st.binary(max_size=300), max_size=20).map(tuple),
    status_code=st.sampled_from([200, 400, 429, 503]) | st.integers(1, 2**32 - 1),
    status_desc=st.none() | st.text(max_size=50),
)


def _enr(key: int, seq: int = 1, port: int = 60000) -> bytes:
    return build_waku_enr(key.to_bytes(32, "big"), seq, ip="127.0.0.1", tcp=port).raw


@given(st.integers(0, 2**64 - 1))
def test_query_round_trip(n: int) -> None:
    assert decode_query(encode_query(PeerExchangeQuery(n))) == PeerExchangeQuery(n)


@given(responses)
def test_response_round_trip(response: PeerExchangeResponse) -> None:
    assert decode_response(encode_response(response)) == response


def test_wire_layout_matches_nwaku() -> None:
    # request: field 1 (query) with num_peers = 5, and field 1 present even for 0
    assert encode_query(PeerExchangeQuery(5)) == bytes.fromhex("0a020805")
    assert encode_query(PeerExchangeQuery(0)) == bytes.fromhex("0a00")
    # response: an empty query (nwaku's decoder requires field 1), then field 2 with the
    # peer infos (1), status_code (10) and status_desc (11)
    data = encode_response(PeerExchangeResponse(enrs=(b"\x01\x02",), status_code=200, status_desc="ok"))
    assert data == bytes.fromhex("0a00" + "120d" + "0a04" + "0a020102" + "50c801" + "5a026f6b")


def test_nwaku_request_with_a_response_part_is_a_query() -> None:
    # nwaku writes both fields of PeerExchangeRpc in a request: response = {status_code: 0}
    assert decode_query(bytes.fromhex("0a020803" + "12025000")) == PeerExchangeQuery(3)


def test_missing_status_code_is_read_as_nwaku_reads_it() -> None:
    # an old responder: peer infos and no status code
    assert decode_response(bytes.fromhex("1206" + "0a04" + "0a020102")).status_code == StatusCode.SUCCESS
    assert decode_response(bytes.fromhex("1200")).status_code == StatusCode.SERVICE_UNAVAILABLE


def test_missing_parts_and_oversize() -> None:
    with pytest.raises(RemoteProtocolError, match="no query") as info:
        decode_query(b"")
    assert info.value.status_code == 400
    with pytest.raises(RemoteProtocolError, match="no response"):
        decode_response(encode_query(PeerExchangeQuery(1)))
    with pytest.raises(RemoteProtocolError) as info:
        decode_query(b"\x0a" * (MAX_REQUEST_BYTES + 1))
    assert info.value.status_code == 413
    with pytest.raises(RemoteProtocolError) as info:
        decode_response(encode_response(PeerExchangeResponse(enrs=(bytes(300),) * 10)), max_size=1000)
    assert info.value.status_code == 413
    with pytest.raises(LocalProtocolError):
        encode_query(PeerExchangeQuery(-1))
    with pytest.raises(RemoteProtocolError, match="malformed") as info:  # status_desc not UTF-8
        decode_response(bytes.fromhex("1204" + "5a02ffff"))
    assert info.value.status_code == 400


def test_refusal_is_a_response_with_the_status() -> None:
    response = decode_response(refuse(429, "rate limit exceeded"))
    assert response == PeerExchangeResponse((), 429, "rate limit exceeded")


@given(st.binary(max_size=300))
def test_garbage_query(data: bytes) -> None:
    try:
        decode_query(data)
    except RemoteProtocolError as exc:
        assert exc.status_code == 400


@given(st.binary(max_size=600))
def test_garbage_response(data: bytes) -> None:
    try:
        response = decode_response(data)
    except RemoteProtocolError as exc:
        assert exc.status_code == 400
    else:
        assert isinstance(response, PeerExchangeResponse)


def test_parse_enrs_keeps_verified_records_once() -> None:
    good, newer = _enr(11, seq=1), _enr(11, seq=2, port=60001)
    other = _enr(12)
    tampered = bytearray(other)
    tampered[-1] ^= 1
    malformed = build_waku_enr((13).to_bytes(32, "big"), 1, extra={"tcp": b"\x00\x01"}).raw
    enrs, skipped = parse_enrs([good, bytes(tampered), b"garbage", newer, malformed, other, good])
    assert [(e.public_key, e.seq) for e in enrs] == [
        (build_waku_enr((11).to_bytes(32, "big"), 1).public_key, 2),
        (build_waku_enr((12).to_bytes(32, "big"), 1).public_key, 1),
    ]
    assert skipped == {"invalid_enr": 2, "malformed_field": 1, "duplicate": 2}
