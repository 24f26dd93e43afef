"""Filter v2 codec: round-trips, the wire layout other implementations read, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import waku_messages
from w3msg_libp2p.core.errors import RemoteProtocolError
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.protocols.filter.codec import (
    MAX_PUSH_BYTES,
    MAX_REQUEST_BYTES,
    decode_push,
    decode_request,
    decode_response,
    encode_push,
    encode_request,
    encode_response,
)
from w3msg_libp2p.protocols.filter.rpc import MessagePush, SubscribeRequest, SubscribeResponse, SubscribeType

text = st.text(max_size=40)
requests = st.builds(
    SubscribeRequest,
    request_id=text,
    subscribe_type=st.sampled_from(list(SubscribeType)),
    pubsub_topic=st.none() | text,
    content_topics=st.lists(text, max_size=5).map(tuple),
)
responses = st.builds(SubscribeResponse, request_id=text, status_code=st.integers(0, 2**32 - 1),
                      status_desc=st.none() | text)
messages = waku_messages
pushes = st.builds(MessagePush, message=messages, pubsub_topic=st.none() | text)


@given(requests)
def test_request_round_trip(req: SubscribeRequest) -> None:
    assert decode_request(encode_request(req)) == req


@given(responses)
def test_response_round_trip(resp: SubscribeResponse) -> None:
    assert decode_response(encode_response(resp)) == resp


@given(pushes)
def test_push_round_trip(push: MessagePush) -> None:
    assert decode_push(encode_push(push)) == push


def test_wire_layout_matches_the_spec_field_numbers() -> None:
    req = SubscribeRequest("r1", SubscribeType.SUBSCRIBE, "/waku/2/rs/1/0", ("/a/1/b/c",))
    # request_id = 1, filter_subscribe_type = 2, pubsub_topic = 10, content_topics = 11
    assert encode_request(req) == b"\x0a\x02r1\x10\x01\x52\x0e/waku/2/rs/1/0\x5a\x08/a/1/b/c"
    # status_code = 10, status_desc = 11
    assert encode_response(SubscribeResponse("r1", 200, "OK")) == b"\x0a\x02r1\x50\xc8\x01\x5a\x02OK"
    push = encode_push(MessagePush(WakuMessage(b"x", "/a/1/b/c"), "/waku/2/rs/1/0"))
    assert push.startswith(b"\x0a") and push.endswith(b"\x12\x0e/waku/2/rs/1/0")


def test_a_ping_is_type_zero_and_may_omit_the_type_field() -> None:
    # proto3 does not write a zero enum: a ping is just the request id on the wire
    assert encode_request(SubscribeRequest("p", SubscribeType.SUBSCRIBER_PING)) == b"\x0a\x01p"
    assert decode_request(b"\x0a\x01p").subscribe_type is SubscribeType.SUBSCRIBER_PING


def test_unknown_subscribe_type_is_kept_for_the_server_to_refuse() -> None:
    decoded = decode_request(b"\x0a\x01x\x10\x07")
    assert decoded.subscribe_type == 7 and not isinstance(decoded.subscribe_type, SubscribeType)


@pytest.mark.parametrize("decode", [decode_request, decode_response, decode_push])
@given(data=st.binary(max_size=300))
def test_garbage_is_a_remote_error_or_a_value(decode: object, data: bytes) -> None:
    try:
        decode(data)  # type: ignore[operator]
    except RemoteProtocolError as exc:
        assert exc.status_code in (400, 413)


def test_oversized_is_413_before_parsing() -> None:
    for decode, limit in ((decode_request, MAX_REQUEST_BYTES), (decode_push, MAX_PUSH_BYTES)):
        with pytest.raises(RemoteProtocolError) as info:
            decode(b"\x0a" * (limit + 1))  # type: ignore[operator]
        assert info.value.status_code == 413


def test_push_without_message_or_with_bad_utf8_is_400() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_push(b"\x12\x01a")
    assert info.value.status_code == 400
    with pytest.raises(RemoteProtocolError) as info:
        decode_request(b"\x0a\x02\xff\xfe")
    assert info.value.status_code == 400
