from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from w3msg_libp2p.core.errors import RemoteProtocolError
from w3msg_libp2p.core.framing import FrameDecoder, encode_uvarint, frame


@given(st.integers(0, 2**64 - 1))
def test_uvarint_matches_protobuf(value: int) -> None:
    from google.protobuf.internal.encoder import _VarintBytes

    assert encode_uvarint(value) == _VarintBytes(value)


@given(st.lists(st.binary(max_size=300), max_size=20), st.data())
def test_frames_survive_any_chunking(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder(max_frame=1000)
    out: list[bytes] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        out.extend(decoder.feed(stream[last:cut]))
        last = cut
    assert out == payloads
    assert decoder.buffered == 0


def test_oversized_frame_is_refused_before_buffering() -> None:
    decoder = FrameDecoder(max_frame=100)
    with pytest.raises(RemoteProtocolError) as info:
        decoder.feed(encode_uvarint(101))
    assert info.value.status_code == 413


def test_overlong_varint_is_refused() -> None:
    with pytest.raises(RemoteProtocolError):
        FrameDecoder(max_frame=100).feed(b"\xff" * 11)
