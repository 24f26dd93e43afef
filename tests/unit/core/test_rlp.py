from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from w3msg_libp2p.core import rlp
from w3msg_libp2p.core.errors import LocalProtocolError, RemoteProtocolError

items = st.recursive(st.binary(max_size=80), lambda inner: st.lists(inner, max_size=6).map(tuple), max_leaves=40)

# The examples of the Ethereum RLP specification (Yellow Paper appendix B / ethereum.org).
LOREM = b"Lorem ipsum dolor sit amet, consectetur adipisicing elit"
VECTORS: list[tuple[rlp.RlpItem, str]] = [
    (b"dog", "83646f67"),
    ((b"cat", b"dog"), "c88363617483646f67"),
    (b"", "80"),
    ((), "c0"),
    (b"\x00", "00"),
    (b"\x0f", "0f"),
    (b"\x04\x00", "820400"),
    (((), ((),), ((), ((),))), "c7c0c1c0c3c0c1c0"),
    (LOREM, "b838" + LOREM.hex()),
]


@pytest.mark.parametrize(("item", "hex_encoding"), VECTORS)
def test_specification_examples(item: rlp.RlpItem, hex_encoding: str) -> None:
    assert rlp.encode(item).hex() == hex_encoding
    assert rlp.decode(bytes.fromhex(hex_encoding)) == item


def test_integers_are_minimal_big_endian() -> None:
    assert rlp.encode_uint(0) == b""
    assert rlp.encode_uint(15) == b"\x0f"
    assert rlp.encode_uint(1024) == b"\x04\x00"
    assert rlp.decode_uint(b"\x04\x00") == 1024
    with pytest.raises(rlp.RlpError, match="leading zero"):
        rlp.decode_uint(b"\x00\x01")
    with pytest.raises(rlp.RlpError, match="at most 2"):
        rlp.decode_uint(b"\x01\x00\x00", max_bytes=2)
    with pytest.raises(LocalProtocolError):
        rlp.encode_uint(-1)


def test_long_payloads_use_the_long_form() -> None:
    data = bytes(range(256)) * 4
    encoded = rlp.encode(data)
    assert encoded[:3] == b"\xb9\x04\x00"
    assert rlp.decode(encoded) == data
    big_list = tuple([b"x" * 10] * 10)
    assert rlp.decode(rlp.encode(big_list)) == big_list


@given(items)
def test_round_trip(item: rlp.RlpItem) -> None:
    assert rlp.decode(rlp.encode(item)) == item


@given(st.binary(max_size=200))
def test_garbage_is_refused_or_canonical(data: bytes) -> None:
    """Either a typed error, or the input is the one canonical encoding of what it decodes to."""
    try:
        item = rlp.decode(data)
    except RemoteProtocolError as exc:
        assert isinstance(exc, rlp.RlpError)
        assert exc.status_code == 400
    else:
        assert rlp.encode(item) == data


@given(items, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(item: rlp.RlpItem, tail: bytes) -> None:
    with pytest.raises(rlp.RlpError, match="trailing"):
        rlp.decode(rlp.encode(item) + tail)


@pytest.mark.parametrize(("hex_data", "reason"), [
    ("8100", "single byte below 0x80"),  # 0x00 must encode as itself
    ("817f", "single byte below 0x80"),
    ("b801" + "61", "short length uses the long form"),
    ("b90001" + "61", "leading zero"),
    ("f80180", "short length uses the long form"),
    ("83646f", "overruns"),
    ("c3836466", "overruns"),
    ("c2c3", "overruns"),
    ("", "ends where an item should start"),
    ("b9", "ends inside a length"),
])
def test_non_canonical_and_truncated_input(hex_data: str, reason: str) -> None:
    with pytest.raises(rlp.RlpError, match=reason):
        rlp.decode(bytes.fromhex(hex_data))


def test_limits() -> None:
    nested: rlp.RlpItem = ()
    for _ in range(20):
        nested = (nested,)
    encoded = rlp.encode(nested)
    with pytest.raises(rlp.RlpError, match="nested deeper"):
        rlp.decode(encoded, max_depth=16)
    assert rlp.decode(encoded, max_depth=21) == nested
    with pytest.raises(rlp.RlpError, match="more than 10 items"):
        rlp.decode(rlp.encode([b"a"] * 20), max_items=10)
    with pytest.raises(rlp.RlpError, match="exceed the limit"):
        rlp.decode(rlp.encode(b"x" * 400), max_bytes=300)


def test_deep_garbage_is_bounded() -> None:
    """A megabyte of list headers is refused at the depth limit, not by a RecursionError."""
    with pytest.raises(rlp.RlpError, match="nested deeper"):
        rlp.decode(b"\xc1" * 100_000 + b"\x80")


def test_encoding_refuses_what_is_not_bytes_or_a_list() -> None:
    with pytest.raises(LocalProtocolError, match="not str"):
        rlp.encode("text")  # a str type-checks as a sequence: refused at run time
    with pytest.raises(LocalProtocolError, match="int"):
        rlp.encode(5)  # type: ignore[arg-type]
