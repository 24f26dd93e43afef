"""Request/response protocols on py-libp2p streams: one varint-framed request, one framed
response, per stream (store, lightpush, filter-subscribe, peer exchange, metadata).

The protocol logic is an ``async (peer_id, request_bytes) -> response_bytes`` callable that knows
nothing about streams, so the same handler serves a direct stream, a mixnet, or a test. This
module owns the stream: size limits before reading, per-peer rate limits, timeouts, and turning
every failure into the protocol's own error response (``refuse(status, description)``), counted
by reason.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.io.exceptions import IOException
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.id import ID
from libp2p.stream_muxer.exceptions import MuxedConnError, MuxedStreamEOF, MuxedStreamError

from ..core.errors import PeerUnreachable, RemoteProtocolError
from ..core.framing import MAX_VARINT_BYTES, encode_uvarint
from ..core.ratelimit import PeerRateLimiter, RateLimit

log = logging.getLogger(__name__)

# What py-libp2p raises when a stream or its connection goes away under us.
STREAM_GONE = (IOException, MuxedStreamError, MuxedConnError, trio.BrokenResourceError, trio.ClosedResourceError)
DEFAULT_TIMEOUT = 10.0
IDLE_STREAM_TIMEOUT = 600.0  # an opened stream may wait this long for its request to start

Handler = Callable[[str, bytes], Awaitable[bytes]]
OneWayHandler = Callable[[str, bytes], Awaitable[None]]
Refuse = Callable[[int, str], bytes]


@dataclass(slots=True)
class ServiceStats:
    requests: int = 0
    responses: int = 0
    refusals: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "responses": self.responses, "refusals": dict(self.refusals)}


# -- framing on a stream ---------------------------------------------------------------------
async def read_exactly(stream: INetStream, n: int) -> bytes:
    parts: list[bytes] = []
    while n > 0:
        chunk = await stream.read(n)
        if not chunk:
            raise RemoteProtocolError("stream ended in the middle of a message", 400)
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


async def read_frame(stream: INetStream, max_bytes: int, first: bytes = b"") -> bytes:
    """One varint-length-prefixed frame (``first``: its first byte, if already read); a declared
    length over ``max_bytes`` is refused (413) before any of the body is read."""
    length = 0
    for i in range(MAX_VARINT_BYTES):
        byte = (first or await read_exactly(stream, 1))[0]
        first = b""
        length |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            break
    else:
        raise RemoteProtocolError("frame length varint is too long", 400)
    if length > max_bytes:
        raise RemoteProtocolError(f"message of {length} bytes exceeds the limit of {max_bytes}", 413)
    return await read_exactly(stream, length)


async def write_frame(stream: INetStream, data: bytes) -> None:
    await stream.write(encode_uvarint(len(data)) + data)


# -- server side ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RequestResponseProtocol:
    protocol_ids: tuple[str, ...]
    handle: Handler
    refuse: Refuse  # the protocol's error response for a status code and description
    max_request_bytes: int
    rate_limit: RateLimit | None = None
    timeout: float = DEFAULT_TIMEOUT


class RequestResponseServer:
    def __init__(self, host: IHost, protocol: RequestResponseProtocol,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        self.protocol = protocol
        self.monotonic = monotonic
        self.stats = ServiceStats()
        self.limiter = PeerRateLimiter(protocol.rate_limit) if protocol.rate_limit else None

    def mount(self) -> None:
        for pid in self.protocol.protocol_ids:
            self.host.set_stream_handler(TProtocol(pid), self._on_stream)

    def _refuse(self, reason: str, status: int, description: str) -> bytes:
        self.stats.refusals[reason] += 1
        log.debug("%s: refused (%s): %s", self.protocol.protocol_ids[0], reason, description)
        return self.protocol.refuse(status, description)

    async def respond(self, peer: str, request: bytes) -> bytes:
        """The response to one request: rate limit, then the handler, errors turned into refusals."""
        self.stats.requests += 1
        if self.limiter is not None and not self.limiter.allow(peer, self.monotonic()):
            return self._refuse("rate_limited", 429, "rate limit exceeded")
        try:
            response = await self.protocol.handle(peer, request)
        except RemoteProtocolError as exc:
            return self._refuse(f"status_{exc.status_code}", exc.status_code, str(exc))
        self.stats.responses += 1
        return response

    async def _on_stream(self, stream: INetStream) -> None:
        peer = str(stream.muxed_conn.peer_id)
        p = self.protocol
        try:
            # js-waku opens its streams right after identify and sends on them later: an idle
            # stream waits (within a generous bound); the request timeout starts at its first byte.
            with trio.fail_after(IDLE_STREAM_TIMEOUT):
                first = await read_exactly(stream, 1)
            with trio.fail_after(p.timeout):
                try:
                    request = await read_frame(stream, p.max_request_bytes, first)
                except RemoteProtocolError as exc:  # oversized or truncated: answer, then close
                    self.stats.requests += 1
                    await write_frame(stream, self._refuse(f"status_{exc.status_code}", exc.status_code, str(exc)))
                    return
                await write_frame(stream, await self.respond(peer, request))
        except trio.TooSlowError:
            self.stats.refusals["timeout"] += 1
            await reset_quietly(stream)
            return
        except STREAM_GONE as exc:
            self.stats.refusals["stream_error"] += 1
            log.debug("%s: stream from %s failed: %s", p.protocol_ids[0], peer, exc)
            return
        except Exception:  # a bug of ours: loud, counted, and the peer gets a 500
            self.stats.refusals["internal_error"] += 1
            log.exception("%s: internal error serving %s", p.protocol_ids[0], peer)
            with contextlib.suppress(*STREAM_GONE):
                await write_frame(stream, p.refuse(500, "internal error"))
        await close_quietly(stream)


class OneWayServer:
    """Frames pushed to us with no response (filter push): one per stream (go-waku), or many on
    one long-lived stream (nwaku reuses its push stream), until the sender closes it."""

    def __init__(self, host: IHost, protocol_ids: tuple[str, ...], handle: OneWayHandler, max_bytes: int,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.host = host
        self.protocol_ids = protocol_ids
        self.handle = handle
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.stats = ServiceStats()

    def mount(self) -> None:
        for pid in self.protocol_ids:
            self.host.set_stream_handler(TProtocol(pid), self._on_stream)

    async def _on_stream(self, stream: INetStream) -> None:
        peer = str(stream.muxed_conn.peer_id)
        try:
            while True:
                with trio.fail_after(IDLE_STREAM_TIMEOUT):
                    first = await _first_byte_or_eof(stream)
                if first is None:
                    break  # closed between frames: a clean end
                self.stats.requests += 1
                with trio.fail_after(self.timeout):
                    data = await read_frame(stream, self.max_bytes, first)
                await self.handle(peer, data)
                self.stats.responses += 1
        except RemoteProtocolError as exc:
            self.stats.refusals[f"status_{exc.status_code}"] += 1
            log.debug("%s: refused push from %s: %s", self.protocol_ids[0], peer, exc)
            await reset_quietly(stream)
            return
        except trio.TooSlowError:
            self.stats.refusals["timeout"] += 1
            await reset_quietly(stream)
            return
        except STREAM_GONE:
            self.stats.refusals["stream_error"] += 1
            return
        await close_quietly(stream)


async def _first_byte_or_eof(stream: INetStream) -> bytes | None:
    try:
        byte = await stream.read(1)
    except (StreamEOF, MuxedStreamEOF):
        return None
    return byte or None


# -- client side ------------------------------------------------------------------------------
async def request(host: IHost, peer: str | ID, protocol_ids: tuple[str, ...], payload: bytes,
                  max_response_bytes: int, timeout: float = DEFAULT_TIMEOUT) -> tuple[str, bytes]:
    """Send one request; returns (negotiated protocol id, response bytes).

    Raises PeerUnreachable when no stream can be opened or the peer hangs up, and
    RemoteProtocolError when the response is oversized or malformed at the framing level.
    """
    protocol, response = await _exchange(host, peer, protocol_ids, payload, max_response_bytes, timeout, "request")
    assert response is not None
    return protocol, response


async def send_one_way(host: IHost, peer: str | ID, protocol_ids: tuple[str, ...], payload: bytes,
                       timeout: float = DEFAULT_TIMEOUT) -> None:
    """One frame on a stream of its own (as go-waku pushes); raises PeerUnreachable.
    (Filter pushes choose their stream usage per subscriber: protocols/filter/push.py.)"""
    await _exchange(host, peer, protocol_ids, payload, None, timeout, "push")


async def _exchange(host: IHost, peer: str | ID, protocol_ids: tuple[str, ...], payload: bytes,
                    max_response_bytes: int | None, timeout: float, what: str) -> tuple[str, bytes | None]:
    """One frame out on a fresh stream, and one back unless ``max_response_bytes`` is None."""
    peer_id = peer if isinstance(peer, ID) else ID.from_base58(peer)
    try:
        with trio.fail_after(timeout):
            stream = await open_stream(host, peer_id, protocol_ids)
            try:
                await write_frame(stream, payload)
                response = None if max_response_bytes is None else await read_frame(stream, max_response_bytes)
            finally:
                await close_quietly(stream)
    except trio.TooSlowError:
        raise PeerUnreachable(f"{protocol_ids[0]} {what} to {peer_id} timed out after {timeout} s") from None
    except STREAM_GONE as exc:
        raise PeerUnreachable(f"{protocol_ids[0]} {what} to {peer_id} failed: {exc}") from None
    return str(stream.get_protocol()), response


async def open_stream(host: IHost, peer_id: ID, protocol_ids: tuple[str, ...]) -> INetStream:
    """A new stream to ``peer_id``; PeerUnreachable when it cannot be had (dial, negotiation)."""
    try:
        return await host.new_stream(peer_id, [TProtocol(p) for p in protocol_ids])
    except trio.TooSlowError:
        raise
    except Exception as exc:  # py-libp2p: dial errors, negotiation failures, unsupported protocol
        raise PeerUnreachable(f"cannot open {protocol_ids[0]} to {peer_id}: {exc}") from None


async def close_quietly(stream: INetStream) -> None:
    with contextlib.suppress(*STREAM_GONE):
        await stream.close()


async def reset_quietly(stream: INetStream) -> None:
    with contextlib.suppress(*STREAM_GONE):
        await stream.reset()
