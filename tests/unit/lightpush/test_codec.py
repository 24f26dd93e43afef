"""Lightpush v3/v2 codec: round trips, the exact wire layout nwaku requires, and garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import waku_messages
from w3msg_libp2p.core.codec import MAX_WAKU_MESSAGE_BYTES, encode_message
from w3msg_libp2p.core.errors import LocalProtocolError, RemoteProtocolError
from w3msg_libp2p.core.framing import encode_uvarint
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.protocols.lightpush import codec
from w3msg_libp2p.protocols.lightpush.rpc import (
    LightpushRequest,
    LightpushResponse,
    PushRequest,
    PushResponse,
    PushRpc,
)

messages = waku_messages
texts = st.text(max_size=60)
uint32 = st.integers(0, 2**32 - 1)

requests = st.builds(LightpushRequest, request_id=texts, message=messages, pubsub_topic=st.none() | texts)
responses = st.builds(LightpushResponse, request_id=texts, status_code=uint32,
                      status_desc=st.none() | texts, relay_peer_count=st.none() | uint32)
push_rpcs = st.builds(
    PushRpc,
    request_id=texts,
    request=st.none() | st.builds(PushRequest, pubsub_topic=texts, message=messages),
    response=st.none() | st.builds(PushResponse, is_success=st.booleans(), info=st.none() | texts),
)


@given(requests)
def test_v3_request_round_trip(request: LightpushRequest) -> None:
    assert codec.decode_request(codec.encode_request(request)) == request


@given(responses)
def test_v3_response_round_trip(response: LightpushResponse) -> None:
    assert codec.decode_response(codec.encode_response(response)) == response


@given(push_rpcs)
def test_v2_rpc_round_trip(rpc: PushRpc) -> None:
    assert codec.decode_push_rpc(codec.encode_push_rpc(rpc)) == rpc


def _field(number: int, wire_type: int, body: bytes) -> bytes:
    key = encode_uvarint(number << 3 | wire_type)
    if wire_type == 2:
        return key + encode_uvarint(len(body)) + body
    return key + body


def test_v3_request_wire_layout_matches_the_spec() -> None:
    msg = WakuMessage(b"hi", "/a/1/b/c", timestamp=5)
    data = codec.encode_request(LightpushRequest("", msg, "/waku/2/rs/1/0"))
    # request_id is written even when empty: nwaku refuses a request without field 1
    expected = (_field(1, 2, b"") + _field(20, 2, b"/waku/2/rs/1/0") + _field(21, 2, encode_message(msg)))
    assert data == expected


def test_v3_response_always_carries_request_id_and_status() -> None:
    data = codec.encode_response(LightpushResponse("", 200, None, 3))
    assert data == _field(1, 2, b"") + _field(10, 0, encode_uvarint(200)) + _field(12, 0, b"\x03")


def test_v2_rpc_wire_layout_keeps_false_and_empty_fields() -> None:
    data = codec.encode_push_rpc(PushRpc("", response=PushResponse(False, None)))
    # is_success=false is written (nwaku requires field 1 of PushResponse)
    assert data == _field(1, 2, b"") + _field(3, 2, _field(1, 0, b"\x00"))
    msg = WakuMessage(b"x", "/a/1/b/c")
    data = codec.encode_push_rpc(PushRpc("id", request=PushRequest("", msg)))
    assert data == _field(1, 2, b"id") + _field(2, 2, _field(1, 2, b"") + _field(2, 2, encode_message(msg)))


def test_missing_required_fields_are_400() -> None:
    for bad, decode in [
        (_field(1, 2, b"id"), codec.decode_request),  # no message
        (_field(1, 2, b"id"), codec.decode_response),  # no status code
        (_field(2, 2, _field(2, 2, b"")), codec.decode_push_rpc),  # request without topic
    ]:
        with pytest.raises(RemoteProtocolError) as info:
            decode(bad)
        assert info.value.status_code == 400


def test_a_v2_response_without_is_success_is_a_refusal() -> None:
    """go-waku (proto3 plain bool) leaves is_success=false out, e.g. when it rate limits."""
    rpc = codec.decode_push_rpc(_field(1, 2, b"N/A") + _field(3, 2, _field(2, 2, b"exceeds the rate limit")))
    assert rpc.response == PushResponse(False, "exceeds the rate limit")


def test_an_absent_request_id_decodes_as_empty() -> None:
    msg = WakuMessage(b"", "/a/1/b/c")
    assert codec.decode_request(_field(21, 2, encode_message(msg))) == LightpushRequest("", msg)


def test_oversized_input_is_413_before_parsing() -> None:
    for decode in (codec.decode_request, codec.decode_push_rpc):
        with pytest.raises(RemoteProtocolError) as info:
            decode(b"\x0a" * (codec.MAX_REQUEST_BYTES + 1))
        assert info.value.status_code == 413
    with pytest.raises(RemoteProtocolError) as info:
        codec.decode_response(b"\x0a" * (codec.MAX_RESPONSE_BYTES + 1))
    assert info.value.status_code == 413


def test_a_full_size_message_fits_in_a_request() -> None:
    msg = WakuMessage(bytes(MAX_WAKU_MESSAGE_BYTES - 100), "/a/1/b/c")
    request = LightpushRequest("x" * 64, msg, "/waku/2/rs/1/" + "9" * 1000)
    assert codec.decode_request(codec.encode_request(request)) == request


def test_unencodable_values_are_local_errors() -> None:
    with pytest.raises(LocalProtocolError):
        codec.encode_response(LightpushResponse("", -1))
    with pytest.raises(LocalProtocolError):
        codec.encode_response(LightpushResponse("", 200, None, 2**32))


@given(st.binary(max_size=400))
def test_garbage_is_a_remote_error_or_a_value(data: bytes) -> None:
    for decode in (codec.decode_request, codec.decode_response, codec.decode_push_rpc):
        try:
            decode(data)
        except RemoteProtocolError as exc:
            assert exc.status_code in (400, 413)


@given(requests, st.integers(0, 400), st.binary(min_size=1, max_size=8))
def test_corrupted_requests_never_raise_anything_else(request: LightpushRequest, at: int, junk: bytes) -> None:
    data = codec.encode_request(request)
    at = min(at, len(data))
    for corrupted in (data[:at], data[:at] + junk + data[at:]):
        try:
            codec.decode_request(corrupted)
        except RemoteProtocolError as exc:
            assert exc.status_code in (400, 413)
