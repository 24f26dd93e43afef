from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import waku_messages
from w3msg_libp2p.core.codec import MAX_WAKU_MESSAGE_BYTES, decode_message, encode_message
from w3msg_libp2p.core.errors import RemoteProtocolError
from w3msg_libp2p.core.message import WakuMessage

messages = waku_messages


@given(messages)
def test_round_trip(msg: WakuMessage) -> None:
    assert decode_message(encode_message(msg)) == msg


@given(st.binary(max_size=300))
def test_garbage_is_a_remote_error_or_a_message(data: bytes) -> None:
    try:
        decoded = decode_message(data)
    except RemoteProtocolError as exc:
        assert exc.status_code in (400, 413)
    else:
        assert isinstance(decoded, WakuMessage)


def test_oversized_is_413_before_parsing() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(b"\x0a" * (MAX_WAKU_MESSAGE_BYTES + 1))
    assert info.value.status_code == 413


def test_meta_over_64_bytes_is_refused() -> None:
    data = encode_message(WakuMessage(b"", "/a/1/b/c", meta=bytes(65)))
    with pytest.raises(RemoteProtocolError, match="meta"):
        decode_message(data)


def test_truncated_message_is_400() -> None:
    data = encode_message(WakuMessage(b"x" * 100, "/a/1/b/c"))
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(data[:50])
    assert info.value.status_code == 400
