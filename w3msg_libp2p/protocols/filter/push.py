"""Filter pushes to one subscriber, over the stream usage that subscriber's client expects.

Clients differ, and the spec does not say: nwaku (current) and js-waku read every push from one
long-lived stream, and js-waku drops the connection once 100 streams we never close pile up;
go-waku (v0.10) reads ONE push per stream and then closes the stream, discarding anything
written after that push. So the first stream to a subscriber is a probe: after its first push
we wait up to ``probe_window`` for the subscriber to close it. One that does gets a fresh
stream per push (closed by us right after the write); one that does not gets every push on
that stream. A long-lived stream the subscriber closes later is reopened and probed again.

go-waku also limits the push streams it accepts per service peer (15/s, burst 20) and resets the
others, losing those pushes: stream-per-push subscribers get at most ``PER_PUSH_RATE`` streams a
second (burst ``PER_PUSH_BURST``, below go-waku's limits to absorb jitter); the rest wait in the
subscriber's push queue, where a full queue drops and counts.
"""

from __future__ import annotations

from typing import Any

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID

from ...core.errors import PeerUnreachable
from ...core.ratelimit import RateLimit, TokenBucket
from ...net.reqresp import STREAM_GONE, close_quietly, open_stream, write_frame

PROBE_WINDOW = 1.0  # seconds a first push waits for a one-push-per-stream client to close
PER_PUSH_RATE = 12.0  # push streams a second to a stream-per-push subscriber
PER_PUSH_BURST = 10


class PushSender:
    """Sends one-way frames to ``peer``; background readers run in ``nursery``."""

    def __init__(self, host: IHost, peer: str, protocol_ids: tuple[str, ...], nursery: trio.Nursery,
                 timeout: float, probe_window: float = PROBE_WINDOW, per_push_rate: float = PER_PUSH_RATE,
                 per_push_burst: int = PER_PUSH_BURST) -> None:
        self.host = host
        self.peer_id = ID.from_base58(peer)
        self.protocol_ids = protocol_ids
        self.nursery = nursery
        self.timeout = timeout
        self.probe_window = probe_window
        self.stream_per_push: bool | None = None  # None until a probe told
        self._stream: INetStream | None = None
        self._closed_by_peer = trio.Event()
        self._watcher = trio.CancelScope()
        self.streams_opened = 0
        # burst ``per_push_burst``, refilled at ``per_push_rate`` a second
        self._pace = TokenBucket(RateLimit(per_push_burst, per_push_burst / per_push_rate), trio.current_time())

    async def send(self, payload: bytes) -> None:
        """Raises PeerUnreachable when neither the open stream nor a fresh one takes the frame."""
        for attempt in range(2):
            try:
                with trio.fail_after(self.timeout + self.probe_window):
                    await self._send(payload)
                return
            except (trio.TooSlowError, *STREAM_GONE) as exc:
                await self.aclose()
                if attempt:
                    raise PeerUnreachable(f"{self.protocol_ids[0]} push to {self.peer_id} failed: {exc}") from None

    async def _send(self, payload: bytes) -> None:
        if self.stream_per_push:
            while not self._pace.take(trio.current_time()):
                await trio.sleep(self._pace.seconds_until(trio.current_time()))
            stream = await self._open()
            try:
                await write_frame(stream, payload)
            finally:
                await close_quietly(stream)
            return
        if self._stream is not None and self._closed_by_peer.is_set():
            await self.aclose()  # the subscriber closed it: what we wrote now would be lost
            self.stream_per_push = None
        fresh = self._stream is None
        if fresh:
            self._stream = await self._open()
            self._closed_by_peer, self._watcher = trio.Event(), trio.CancelScope()
            self.nursery.start_soon(_watch, self._stream, self._closed_by_peer, self._watcher)
        assert self._stream is not None
        await write_frame(self._stream, payload)
        if fresh and self.stream_per_push is None:
            with trio.move_on_after(self.probe_window):
                await self._closed_by_peer.wait()
            self.stream_per_push = self._closed_by_peer.is_set()
            if self.stream_per_push:
                await self.aclose()

    async def _open(self) -> INetStream:
        stream = await open_stream(self.host, self.peer_id, self.protocol_ids)
        self.streams_opened += 1
        return stream

    async def aclose(self) -> None:
        self._watcher.cancel()
        stream, self._stream = self._stream, None
        if stream is not None:
            await close_quietly(stream)


async def _watch(stream: Any, closed: trio.Event, scope: trio.CancelScope) -> None:
    """Reads the subscriber's side of a push stream (it sends nothing) until it closes or resets."""
    with scope:
        try:
            while await stream.read(1024):
                pass
        except (EOFError, *STREAM_GONE):
            pass
        closed.set()
