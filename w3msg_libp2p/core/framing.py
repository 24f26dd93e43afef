"""Unsigned varints and varint-length-prefixed frames, as libp2p protocols use them. No I/O."""

from __future__ import annotations

from .errors import RemoteProtocolError

MAX_VARINT_BYTES = 10


def encode_uvarint(value: int) -> bytes:
    if value < 0:
        raise ValueError("uvarint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def frame(payload: bytes) -> bytes:
    return encode_uvarint(len(payload)) + payload


class FrameDecoder:
    """Accumulates bytes; yields complete length-prefixed frames.

    A declared length above ``max_frame`` raises RemoteProtocolError(413) before any of the
    body is buffered, so an oversized frame costs us nothing.
    """

    __slots__ = ("_buf", "_pos", "max_frame")

    def __init__(self, max_frame: int) -> None:
        self._buf = bytearray()
        self._pos = 0
        self.max_frame = max_frame

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        if self._pos:
            del buf[: self._pos]
            self._pos = 0
        buf += data
        frames: list[bytes] = []
        pos = 0
        end = len(buf)
        while pos < end:
            length = 0
            shift = 0
            i = pos
            while True:
                if i >= end:
                    self._pos = pos
                    return frames
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                i += 1
                if not byte & 0x80:
                    break
                shift += 7
                if shift >= 7 * MAX_VARINT_BYTES:
                    raise RemoteProtocolError("frame length varint is too long", 400)
            if length > self.max_frame:
                raise RemoteProtocolError(f"frame of {length} bytes exceeds limit {self.max_frame}", 413)
            if i + length > end:
                self._pos = pos
                return frames
            frames.append(bytes(buf[i : i + length]))
            pos = i + length
        self._pos = pos
        return frames

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos
