"""Bounded subscriptions to delivered messages, shared by relay deliveries and filter pushes.

A full subscription never blocks whoever delivers (the relay, a push handler): the message is
dropped for that subscriber and counted. Readers that fall behind are visible through
``Inbox.backlogged()`` so the relay can push back on its senders first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

import trio

from ..core.message import Envelope


class Subscription:
    """Messages of one pubsub topic (or all) and some content topics (or all), in a bounded
    buffer. Use as a context manager, or close() it when done."""

    def __init__(self, pubsub_topic: str | None, content_topics: frozenset[str] | None, buffer: int,
                 on_close: Callable[[Subscription], None]) -> None:
        self.pubsub_topic = pubsub_topic
        self.content_topics = content_topics
        self.dropped = 0
        self._send, self._recv = trio.open_memory_channel[Envelope](buffer)
        self._on_close = on_close

    def matches(self, env: Envelope) -> bool:
        if self.pubsub_topic is not None and env.pubsub_topic != self.pubsub_topic:
            return False
        return self.content_topics is None or env.message.content_topic in self.content_topics

    def offer(self, env: Envelope) -> bool:
        """Queue ``env`` without waiting; False (and counted in ``dropped``) when full."""
        try:
            self._send.send_nowait(env)
        except trio.WouldBlock:
            self.dropped += 1
            return False
        return True

    @property
    def depth(self) -> int:
        return int(self._send.statistics().current_buffer_used)

    @property
    def nearly_full(self) -> bool:
        stats = self._send.statistics()
        return bool(stats.current_buffer_used * 4 > stats.max_buffer_size * 3)

    async def receive(self) -> Envelope:
        return await self._recv.receive()

    def receive_nowait(self) -> Envelope:
        return self._recv.receive_nowait()

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self._recv.__aiter__()

    def close(self) -> None:
        self._on_close(self)
        self._send.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Inbox:
    """The open subscriptions of one message source."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def open(self, pubsub_topic: str | None, content_topics: Iterable[str] | None, buffer: int) -> Subscription:
        cts = frozenset(content_topics) if content_topics is not None else None
        sub = Subscription(pubsub_topic, cts, buffer, self._subscriptions.discard)
        self._subscriptions.add(sub)
        return sub

    def deliver(self, env: Envelope) -> tuple[int, int]:
        """Offer ``env`` to every matching subscription; returns (delivered, dropped)."""
        delivered = dropped = 0
        for sub in list(self._subscriptions):
            if sub.matches(env):
                if sub.offer(env):
                    delivered += 1
                else:
                    dropped += 1
        return delivered, dropped

    def backlogged(self) -> bool:
        """Some subscriber's buffer is over three quarters full."""
        return any(sub.nearly_full for sub in self._subscriptions)

    def max_depth(self) -> int:
        return max((sub.depth for sub in self._subscriptions), default=0)

    def __len__(self) -> int:
        return len(self._subscriptions)
