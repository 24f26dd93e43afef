"""Metadata codec: round trips, both shard encodings nwaku accepts, and what js-waku can read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from w3msg_libp2p.core.errors import LocalProtocolError, RemoteProtocolError
from w3msg_libp2p.core.framing import encode_uvarint
from w3msg_libp2p.protocols.metadata import codec
from w3msg_libp2p.protocols.metadata.rpc import Metadata

uint32 = st.integers(0, 2**32 - 1)
metadatas = st.builds(Metadata, cluster_id=st.none() | uint32,
                      shards=st.lists(st.integers(0, 1023), max_size=20).map(tuple))


def varint(value: int) -> bytes:
    return encode_uvarint(value)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def protons_decode(data: bytes) -> tuple[int | None, list[int]]:
    """What js-waku's generated decoder (protons) does: field 2 is one uint32 per tag, whatever
    its wire type; other fields are skipped by wire type."""
    cluster, shards, pos = None, [], 0
    while pos < len(data):
        tag, pos = read_varint(data, pos)
        number, wire_type = tag >> 3, tag & 7
        if number == 1:
            cluster, pos = read_varint(data, pos)
        elif number == 2:
            shard, pos = read_varint(data, pos)
            shards.append(shard)
        elif wire_type == 0:
            _, pos = read_varint(data, pos)
        elif wire_type == 2:
            length, pos = read_varint(data, pos)
            pos += length
        else:
            raise AssertionError(f"unexpected wire type {wire_type}")
    return cluster, shards


@given(metadatas)
def test_round_trip(metadata: Metadata) -> None:
    assert codec.decode_request(codec.encode_request(metadata)) == metadata
    assert codec.decode_response(codec.encode_response(metadata)) == metadata


@given(metadatas)
def test_js_waku_reads_what_we_write(metadata: Metadata) -> None:
    assert protons_decode(codec.encode_response(metadata)) == (metadata.cluster_id, list(metadata.shards))


def test_we_write_what_nwaku_writes() -> None:
    # nwaku: field 1, then each shard as field 2 (deprecated form), then field 3 packed
    expected = b"\x08\x01" + b"\x10\x00\x10\x05" + b"\x1a\x02\x00\x05"
    assert codec.encode_response(Metadata(1, (0, 5))) == expected
    # cluster 0 is still written: presence is what says "I am in cluster 0"
    assert codec.encode_request(Metadata(0, ())) == b"\x08\x00"
    assert codec.encode_request(Metadata(None, ())) == b""


@pytest.mark.parametrize("data", [
    b"\x08\x01\x1a\x02\x03\x04",  # packed in field 3 (nwaku reads this first)
    b"\x08\x01\x12\x02\x03\x04",  # packed in field 2
    b"\x08\x01\x10\x03\x10\x04",  # one varint per shard in field 2 (js-waku)
    b"\x08\x01\x10\x09\x1a\x02\x03\x04",  # both: field 3 wins, as in nwaku
])
def test_we_read_every_form_nwaku_reads(data: bytes) -> None:
    assert codec.decode_response(data) == Metadata(1, (3, 4))


def test_absent_cluster_is_none() -> None:
    assert codec.decode_response(b"") == Metadata(None, ())


def test_oversized_is_413_and_unencodable_is_local() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        codec.decode_request(b"\x10\x01" * codec.MAX_METADATA_BYTES)
    assert info.value.status_code == 413
    with pytest.raises(LocalProtocolError):
        codec.encode_request(Metadata(2**32, ()))


@given(st.binary(max_size=200))
def test_garbage_is_a_remote_error_or_a_value(data: bytes) -> None:
    for decode in (codec.decode_request, codec.decode_response):
        try:
            decoded = decode(data)
        except RemoteProtocolError as exc:
            assert exc.status_code == 400
        else:
            assert isinstance(decoded, Metadata)
