"""Store v3 wire codec: round trips, the exact wire layout, and garbage from peers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import INT64, waku_messages
from w3msg_libp2p.core.codec import encode_message
from w3msg_libp2p.core.errors import LocalProtocolError, RemoteProtocolError
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.protocols.store.codec import (
    MAX_QUERY_BYTES,
    decode_query,
    decode_response,
    encode_query,
    encode_response,
)
from w3msg_libp2p.protocols.store.rpc import StoreEntry, StoreQuery, StoreResponse

messages = waku_messages
queries = st.builds(
    StoreQuery,
    request_id=st.text(max_size=40),
    include_data=st.booleans(),
    pubsub_topic=st.none() | st.text(max_size=40),
    content_topics=st.lists(st.text(max_size=30), max_size=5).map(tuple),
    time_start=st.none() | INT64,
    time_end=st.none() | INT64,
    message_hashes=st.lists(st.binary(min_size=32, max_size=32), max_size=5).map(tuple),
    cursor=st.none() | st.binary(max_size=40),
    forward=st.booleans(),
    limit=st.none() | st.integers(0, 2**64 - 1),
)
entries = st.builds(
    StoreEntry,
    message_hash=st.binary(min_size=32, max_size=32),
    message=st.none() | messages,
    pubsub_topic=st.none() | st.text(max_size=30),
)
responses = st.builds(
    StoreResponse,
    request_id=st.text(max_size=40),
    status_code=st.integers(0, 2**32 - 1),
    status_desc=st.text(max_size=60),
    messages=st.lists(entries, max_size=4).map(tuple),
    cursor=st.none() | st.binary(max_size=40),
)


@given(queries)
def test_query_round_trip(query: StoreQuery) -> None:
    assert decode_query(encode_query(query)) == query


@given(responses)
def test_response_round_trip(response: StoreResponse) -> None:
    assert decode_response(encode_response(response)) == response


@given(st.binary(max_size=400))
def test_garbage_query_is_a_remote_error_or_a_query(data: bytes) -> None:
    try:
        decoded = decode_query(data)
    except RemoteProtocolError as exc:
        assert exc.status_code == 400
    else:
        assert isinstance(decoded, StoreQuery)


@given(queries, st.data())
def test_mutated_query_is_a_remote_error_or_a_query(query: StoreQuery, data: st.DataObject) -> None:
    """Valid encodings with bytes flipped, cut or inserted: close to valid is where parsers break."""
    raw = bytearray(encode_query(query))
    if raw:
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
        raw = raw[: data.draw(st.integers(0, len(raw)))] + data.draw(st.binary(max_size=8))
    try:
        decoded = decode_query(bytes(raw))
    except RemoteProtocolError as exc:
        assert exc.status_code == 400
    else:
        assert isinstance(decoded, StoreQuery)


@given(st.binary(max_size=400))
def test_garbage_response_is_a_remote_error_or_a_response(data: bytes) -> None:
    try:
        decoded = decode_response(data)
    except RemoteProtocolError as exc:
        assert exc.status_code in (400, 413)
    else:
        assert isinstance(decoded, StoreResponse)


def test_oversized_query_is_413_before_parsing() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_query(b"\x0a" * (MAX_QUERY_BYTES + 1))
    assert info.value.status_code == 413


def test_response_entry_without_hash_is_refused() -> None:
    # StoreQueryResponse.messages (20) holding a WakuMessageKeyValue with only a pubsub_topic (3)
    entry = _len_field(3, b"/waku/2/rs/1/0")
    with pytest.raises(RemoteProtocolError, match="message_hash"):
        decode_response(_tag(10, 0) + _varint(200) + _len_field(20, entry))


def test_unencodable_query_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode_query(StoreQuery(request_id="r", limit=-1))


# -- the wire layout, built by hand from the spec's field numbers ----------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _len_field(field: int, value: bytes) -> bytes:
    return _tag(field, 2) + _varint(len(value)) + value


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def test_query_fields_are_the_specs() -> None:
    h1, h2, cursor = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    query = StoreQuery(request_id="id-1", include_data=True, pubsub_topic="/waku/2/rs/1/0",
                       content_topics=("/a/1/b/proto", "/a/1/c/proto"), time_start=-5,
                       time_end=1_700_000_000_000_000_000,
                       message_hashes=(h1, h2), cursor=cursor, forward=True, limit=50)
    expected = (
        _len_field(1, b"id-1") + _tag(2, 0) + b"\x01" + _len_field(10, b"/waku/2/rs/1/0")
        + _len_field(11, b"/a/1/b/proto") + _len_field(11, b"/a/1/c/proto")
        + _tag(12, 0) + _varint(_zigzag(-5)) + _tag(13, 0) + _varint(_zigzag(1_700_000_000_000_000_000))
        + _len_field(20, h1) + _len_field(20, h2)
        + _len_field(51, cursor) + _tag(52, 0) + b"\x01" + _tag(53, 0) + _varint(50)
    )
    assert encode_query(query) == expected
    assert decode_query(expected) == query


def test_absent_flags_mean_hashes_only_and_backward() -> None:
    """js-waku omits false booleans; the spec's defaults apply (include_data false, backward)."""
    query = decode_query(_len_field(1, b"r"))
    assert query == StoreQuery(request_id="r", include_data=False, forward=False)


def test_response_fields_are_the_specs() -> None:
    digest, cursor = b"\x07" * 32, b"\x08" * 32
    message = WakuMessage(b"hi", "/a/1/b/proto", timestamp=42)
    response = StoreResponse("id-1", 200, "OK", (StoreEntry(digest, message, "/waku/2/rs/1/0"), StoreEntry(cursor)),
                             cursor)
    kv1 = _len_field(1, digest) + _len_field(2, encode_message(message)) + _len_field(3, b"/waku/2/rs/1/0")
    expected = (
        _len_field(1, b"id-1") + _tag(10, 0) + _varint(200) + _len_field(11, b"OK")
        + _len_field(20, kv1) + _len_field(20, _len_field(1, cursor)) + _len_field(51, cursor)
    )
    assert encode_response(response) == expected
    assert decode_response(expected) == response
