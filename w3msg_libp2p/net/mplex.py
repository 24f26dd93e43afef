"""mplex that does not deadlock: py-libp2p 0.8.1's Mplex with full-duplex streams and a read loop that never waits.

js-waku speaks only mplex (REFERENCE.md section 6), so we must offer it, and py-libp2p 0.8.1's
``Mplex`` stalls as soon as both ends of a stream send at once. Two causes, both in
``libp2p/stream_muxer/mplex/``:

1. ``MplexStream.read`` and ``MplexStream.write`` share one ``ReadWriteLock`` (py-libp2p PR #748,
   which implemented issue #639's "lock reads and writes" as *readers exclude writers*). A task
   waiting in ``read()`` for data holds the lock, so a second task cannot ``write()`` on the same
   stream until data arrives. When both peers wait to read before they write, neither writes:
   a full-duplex stream deadlocks.
2. The connection's single read loop hands each frame to a per-stream channel of depth 1 and
   waits up to 5 s (go-mplex's ReceiveTimeout) for the stream's reader, then resets the stream.
   While it waits, no frame of any other stream is read: one busy stream stalls the connection
   (head-of-line blocking), and under bidirectional bulk the stalls chain into resets.

``W3Mplex`` keeps py-libp2p's framing, stream ids, close/reset semantics and error types (so
``NetStream`` and our handlers see the usual exceptions) and changes only what causes the stalls:

- each stream has its own read lock and write lock: reads never block writes;
- the read loop appends a frame to the stream's buffer and moves on. mplex has no flow control,
  so a stream whose unread buffer exceeds ``MAX_STREAM_BUFFER`` is reset, alone (js-libp2p's
  ``maxStreamBufferSize`` policy, 4 MiB there too; the mplex spec allows "reset the offending
  stream" as the slow-reader remedy);
- resets the read loop decides on are sent from a background task: the loop never writes;
- new inbound streams are queued (bounded) instead of waiting for the swarm to accept them;
- frames go out whole under one connection write lock, so they never interleave even when a
  frame is larger than one Noise message.

Upstream references: py-libp2p issue #639 (asked for *separate* read and write locks) and PR #748
(merged the shared read/write lock); js-libp2p-mplex issue #85 (slow readers: per-stream buffers,
reset on overflow). Measured before/after in docs/interop.md, section "js-waku light client".
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import trio
from libp2p.abc import IMuxedStream, ISecureConn
from libp2p.peer.id import ID
from libp2p.stream_muxer.exceptions import MuxedConnUnavailable
from libp2p.stream_muxer.mplex.constants import HeaderTags
from libp2p.stream_muxer.mplex.datastructures import StreamID
from libp2p.stream_muxer.mplex.exceptions import (
    MplexStreamClosed,
    MplexStreamEOF,
    MplexStreamReset,
    MplexUnavailable,
)
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from libp2p.stream_muxer.mplex.mplex_stream import MplexStream

log = logging.getLogger(__name__)

# Unread bytes one stream may hold before we reset it (js-libp2p mplex: maxStreamBufferSize).
MAX_STREAM_BUFFER = 4 * 1024 * 1024
# Inbound streams opened by the peer and not yet accepted by the swarm.
MAX_PENDING_STREAMS = 256
# Payload per outgoing frame. A frame (header <= 10 bytes + length <= 3 bytes + payload) then
# fits one Noise message (65519 bytes of plaintext): one encryption and one socket write each.
# The peer accepts up to 1 MiB per frame (mplex spec; go-, js- and py-libp2p enforce that).
FRAME_PAYLOAD = 65_000
CLOSE_TIMEOUT = 5.0


class W3MplexStream(MplexStream):
    """An mplex stream whose reads and writes proceed independently."""

    muxed_conn: W3Mplex

    def __init__(self, name: str, stream_id: StreamID, muxed_conn: W3Mplex) -> None:
        # The parent's channel is unused: data lives in ``_inbox``. A closed dummy keeps the
        # attribute valid for any code that looks at it.
        send, receive = trio.open_memory_channel[bytes](0)
        send.close()
        super().__init__(name, stream_id, muxed_conn, receive)
        self._inbox = bytearray()
        self._inbox_changed = trio.Event()
        self._read_lock = trio.Lock()
        self._write_lock = trio.Lock()

    # -- called by the connection's read loop (synchronous: it must never wait) --------------

    def _deliver(self, data: bytes) -> bool:
        """Buffer ``data``; False if the buffer would exceed its bound (the caller resets us)."""
        if len(self._inbox) + len(data) > MAX_STREAM_BUFFER:
            return False
        self._inbox += data
        self._wake()
        return True

    def _wake(self) -> None:
        self._inbox_changed.set()
        self._inbox_changed = trio.Event()

    def _mark_reset(self) -> None:
        """The stream is gone in both directions (reset by either side, or connection lost)."""
        self.event_reset.set()
        self.event_remote_closed.set()
        self.event_local_closed.set()
        self._wake()

    # -- IMuxedStream ------------------------------------------------------------------------

    async def read(self, n: int | None = None) -> bytes:
        """Up to ``n`` bytes (at least one), or everything until EOF when ``n`` is None.

        Bytes that arrived before a remote reset are still returned (as py-libp2p does since
        its issue #1108); after a local reset nothing is.
        """
        if n is not None and n < 0:
            raise ValueError(f"read size must be >= 0 or None, got {n}")
        if n == 0:
            return b""
        result: bytes = await self._with_timeout(self.read_deadline, "Read", lambda: self._read(n))
        return result

    async def _read(self, n: int | None) -> bytes:
        async with self._read_lock:
            while not self._inbox or (n is None and not self.event_remote_closed.is_set()):
                if self.event_remote_closed.is_set():
                    raise MplexStreamReset if self.event_reset.is_set() else MplexStreamEOF
                await self._inbox_changed.wait()
            size = len(self._inbox) if n is None else min(n, len(self._inbox))
            data = bytes(self._inbox[:size])
            del self._inbox[:size]
            return data

    async def write(self, data: bytes) -> None:
        await self._with_timeout(self.write_deadline, "Write", lambda: self._write(data))

    async def _write(self, data: bytes) -> None:
        flag = self._get_header_flag("message")
        async with self._write_lock:
            view = memoryview(data)
            offset = 0
            while True:
                self._check_writable()
                chunk = bytes(view[offset : offset + FRAME_PAYLOAD])
                await self.muxed_conn.send_message(flag, chunk, self.stream_id)
                offset += len(chunk)
                if offset >= len(data):
                    return

    def _check_writable(self) -> None:
        if self.event_reset.is_set():
            raise MplexStreamReset(f"stream {self.name} was reset")
        if self.event_local_closed.is_set():
            raise MplexStreamClosed(f"stream {self.name} is closed for writing")

    async def close(self) -> None:
        """Half-close: we send no more; the peer may go on sending (mplex CLOSE)."""
        if self.event_local_closed.is_set():
            return
        try:
            with trio.fail_after(CLOSE_TIMEOUT):
                async with self._write_lock:  # after any write in progress, never inside it
                    if self.event_local_closed.is_set():
                        return
                    await self.muxed_conn.send_message(self._get_header_flag("close"), None, self.stream_id)
                    self.event_local_closed.set()
        except trio.TooSlowError as exc:
            raise TimeoutError(f"closing mplex stream {self.name} took over {CLOSE_TIMEOUT} s") from exc
        except MuxedConnUnavailable:
            self.event_local_closed.set()  # the connection is gone: nothing left to close
        if self.event_remote_closed.is_set():
            self.muxed_conn._forget(self.stream_id)

    async def reset(self) -> None:
        """Abort both directions, drop unread data and tell the peer (best effort)."""
        if self.event_reset.is_set() or (self.event_local_closed.is_set() and self.event_remote_closed.is_set()):
            return
        tell_peer = not self.event_remote_closed.is_set()
        self._inbox.clear()
        self._mark_reset()
        self.muxed_conn._forget(self.stream_id)
        if tell_peer:
            with contextlib.suppress(MuxedConnUnavailable):  # connection gone: the peer knows
                await self.muxed_conn.send_message(self._get_header_flag("reset"), None, self.stream_id)


class W3Mplex(Mplex):
    """py-libp2p's Mplex with W3MplexStream streams and a read loop that never waits."""

    negotiated_muxer_protocol = MPLEX_PROTOCOL_ID  # py-libp2p guesses it from the class name otherwise
    streams: dict[StreamID, W3MplexStream]  # type: ignore[assignment]

    def __init__(self, secured_conn: ISecureConn, peer_id: ID, on_close: Any = None) -> None:
        super().__init__(secured_conn, peer_id, on_close)
        send, receive = trio.open_memory_channel[IMuxedStream](MAX_PENDING_STREAMS)
        self.new_stream_send_channel, self.new_stream_receive_channel = send, receive
        self._write_lock = trio.Lock()
        self._nursery: trio.Nursery | None = None
        self.resets_for_overflow = 0
        self.resets_for_backlog = 0

    async def start(self) -> None:
        # The swarm runs start() as the connection's task; our nursery carries the resets the
        # read loop decides on, so the loop itself never waits on a write.
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                await self.handle_incoming()
            finally:
                nursery.cancel_scope.cancel()

    async def write_to_stream(self, _bytes: bytes) -> None:
        # One frame, one locked write: frames larger than a Noise message must not interleave.
        async with self._write_lock:
            await super().write_to_stream(_bytes)

    async def _initialize_stream(self, stream_id: StreamID, name: str) -> MplexStream:
        stream = W3MplexStream(name, stream_id, self)
        self.streams[stream_id] = stream
        return stream

    def _forget(self, stream_id: StreamID) -> None:
        self.streams.pop(stream_id, None)

    def _reset_in_background(self, stream: W3MplexStream) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(stream.reset)
        else:  # not started (only in unit use): just mark it; nobody can be told
            stream._mark_reset()
            self._forget(stream.stream_id)

    # -- read loop handlers: synchronous state changes, no waiting ---------------------------

    async def _handle_new_stream(self, stream_id: StreamID, message: bytes) -> None:
        if stream_id in self.streams:
            raise MplexUnavailable(f"received NewStream for existing stream: {stream_id}")
        stream = W3MplexStream(message.decode(errors="replace"), stream_id, self)
        self.streams[stream_id] = stream
        try:
            self.new_stream_send_channel.send_nowait(stream)
        except trio.WouldBlock:
            self.resets_for_backlog += 1
            log.warning("mplex %s: %d inbound streams not yet accepted; resetting %s",
                        self.peer_id, MAX_PENDING_STREAMS, stream_id)
            self._reset_in_background(stream)
        except (trio.ClosedResourceError, trio.BrokenResourceError) as exc:
            raise MplexUnavailable from exc

    async def _handle_message(self, stream_id: StreamID, message: bytes) -> None:
        stream = self.streams.get(stream_id)
        if stream is None or stream.event_reset.is_set():
            return  # late data for a stream we reset or forgot: normal after a reset
        if stream.event_remote_closed.is_set():
            log.debug("mplex %s: %d bytes after CLOSE on %s dropped", self.peer_id, len(message), stream_id)
            return
        if not stream._deliver(message):
            self.resets_for_overflow += 1
            log.warning("mplex %s: stream %s has over %d unread bytes; resetting it",
                        self.peer_id, stream_id, MAX_STREAM_BUFFER)
            self._reset_in_background(stream)

    async def _handle_close(self, stream_id: StreamID) -> None:
        stream = self.streams.get(stream_id)
        if stream is None or stream.event_remote_closed.is_set():
            return
        stream.event_remote_closed.set()
        stream._wake()
        if stream.event_local_closed.is_set():
            self._forget(stream_id)

    async def _handle_reset(self, stream_id: StreamID) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is not None:
            stream._mark_reset()  # buffered bytes stay readable

    async def _handle_incoming_message(self) -> None:
        channel_id, flag, message = await self.read_message()
        stream_id = StreamID(channel_id=channel_id, is_initiator=bool(flag & 1))
        if flag == HeaderTags.NewStream.value:
            await self._handle_new_stream(stream_id, message)
        elif flag in (HeaderTags.MessageInitiator.value, HeaderTags.MessageReceiver.value):
            await self._handle_message(stream_id, message)
        elif flag in (HeaderTags.CloseInitiator.value, HeaderTags.CloseReceiver.value):
            await self._handle_close(stream_id)
        elif flag in (HeaderTags.ResetInitiator.value, HeaderTags.ResetReceiver.value):
            await self._handle_reset(stream_id)
        else:  # mplex has 7 flags; anything else is a broken peer
            log.warning("mplex %s: unknown flag %d on %s; resetting it", self.peer_id, flag, stream_id)
            stream = self.streams.get(stream_id)
            if stream is not None:
                self._reset_in_background(stream)

    async def _cleanup(self) -> None:
        streams = list(self.streams.values())
        await super()._cleanup()
        for stream in streams:
            if not stream.event_remote_closed.is_set() or not stream.event_local_closed.is_set():
                stream._mark_reset()
            stream._wake()

    def statistics(self) -> dict[str, int]:
        return {
            "streams": len(self.streams),
            "resets_for_overflow": self.resets_for_overflow,
            "resets_for_backlog": self.resets_for_backlog,
        }
