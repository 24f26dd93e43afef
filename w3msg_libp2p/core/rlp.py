"""Recursive Length Prefix (RLP) encoding, as Ethereum node records use it. No I/O.

An item is a byte string or a list of items. Decoding is strict, so one value has exactly one
accepted encoding (a signature over an RLP encoding must not be malleable): single bytes below
0x80 must stand for themselves, lengths use the short form when they can and carry no leading
zero bytes, and nothing may follow the top-level item. Input size, nesting depth and item count
are bounded, and every failure is an RlpError (a RemoteProtocolError, status 400).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union, cast

from .errors import LocalProtocolError, RemoteProtocolError

# Decoded lists are tuples, so decoded items are hashable and safe inside frozen dataclasses.
RlpItem = Union[bytes, tuple["RlpItem", ...]]  # noqa: UP007 (a recursive alias needs Union)
Encodable = Union[bytes, bytearray, Sequence["Encodable"]]  # noqa: UP007

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_MAX_DEPTH = 16
DEFAULT_MAX_ITEMS = 10_000

_SHORT = 55  # payloads up to this length put their length in the prefix byte itself


class RlpError(RemoteProtocolError):
    """Bytes that are not one canonical RLP item within the limits."""

    def __init__(self, message: str) -> None:
        super().__init__(f"RLP: {message}", 400)


# -- encoding -----------------------------------------------------------------------------------
def encode(item: Encodable) -> bytes:
    """The RLP encoding of a byte string or a (nested) sequence of them."""
    if isinstance(item, bytes | bytearray):
        data = bytes(item)
        if len(data) == 1 and data[0] < 0x80:
            return data
        return _prefix(0x80, len(data)) + data
    if isinstance(item, str):  # a str is a Sequence: refuse it rather than encode its characters
        raise LocalProtocolError("RLP encodes bytes, not str: encode the text first")
    if isinstance(item, Sequence):
        payload = b"".join(encode(x) for x in cast(Sequence[Encodable], item))
        return _prefix(0xC0, len(payload)) + payload
    raise LocalProtocolError(f"RLP cannot encode {type(item).__name__}")


def _prefix(offset: int, length: int) -> bytes:
    if length <= _SHORT:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + _SHORT + len(size)]) + size


def encode_uint(value: int) -> bytes:
    """An unsigned integer as RLP wants it inside a byte string: big-endian, no leading zeros
    (zero is the empty string)."""
    if value < 0:
        raise LocalProtocolError(f"RLP integers are unsigned, got {value}")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def decode_uint(data: bytes, max_bytes: int = 8, what: str = "integer") -> int:
    """The inverse of encode_uint, refusing leading zeros and values wider than ``max_bytes``."""
    if len(data) > max_bytes:
        raise RlpError(f"{what} is {len(data)} bytes long, at most {max_bytes} allowed")
    if data[:1] == b"\x00":
        raise RlpError(f"{what} has a leading zero byte")
    return int.from_bytes(data, "big")


# -- decoding -----------------------------------------------------------------------------------
def decode(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH,
           max_items: int = DEFAULT_MAX_ITEMS) -> RlpItem:
    """Exactly one RLP item filling ``data``. Lists come back as tuples."""
    if len(data) > max_bytes:
        raise RlpError(f"{len(data)} bytes exceed the limit of {max_bytes}")
    decoder = _Decoder(bytes(data), max_depth, max_items)
    item, end = decoder.item(0, 0)
    if end != len(data):
        raise RlpError(f"{len(data) - end} trailing bytes after the item")
    return item


class _Decoder:
    __slots__ = ("data", "items", "max_depth", "max_items")

    def __init__(self, data: bytes, max_depth: int, max_items: int) -> None:
        self.data = data
        self.max_depth = max_depth
        self.max_items = max_items
        self.items = 0

    def item(self, pos: int, depth: int) -> tuple[RlpItem, int]:
        """The item starting at ``pos`` and the position just after it."""
        self.items += 1
        if self.items > self.max_items:
            raise RlpError(f"more than {self.max_items} items")
        is_list, start, length = self._header(pos)
        end = start + length
        if not is_list:
            return self.data[start:end], end
        if depth >= self.max_depth:
            raise RlpError(f"lists nested deeper than {self.max_depth}")
        children: list[RlpItem] = []
        while start < end:
            child, start = self.item(start, depth + 1)
            children.append(child)
        if start != end:
            raise RlpError("a list item overruns its list")
        return tuple(children), end

    def _header(self, pos: int) -> tuple[bool, int, int]:
        """(is a list, payload start, payload length), checked for canonical form and bounds."""
        data = self.data
        if pos >= len(data):
            raise RlpError("input ends where an item should start")
        first = data[pos]
        if first < 0x80:
            return False, pos, 1
        is_list = first >= 0xC0
        code = first - (0xC0 if is_list else 0x80)
        if code <= _SHORT:
            start, length = pos + 1, code
            if not is_list and length == 1 and start < len(data) and data[start] < 0x80:
                raise RlpError("a single byte below 0x80 must encode itself")
        else:
            size = code - _SHORT
            start = pos + 1 + size
            if start > len(data):
                raise RlpError("input ends inside a length")
            raw = data[pos + 1:start]
            if raw[0] == 0:
                raise RlpError("a length has a leading zero byte")
            length = int.from_bytes(raw, "big")
            if length <= _SHORT:
                raise RlpError("a short length uses the long form")
        if start + length > len(data):
            raise RlpError(f"an item of {length} bytes overruns the input")
        return is_list, start, length
