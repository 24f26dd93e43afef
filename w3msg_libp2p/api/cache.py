"""The messages REST clients poll with GET /relay/v1/messages and /relay/v1/auto/messages.

Pure state (no trio): the REST server feeds it from a relay subscription. Each watched topic
keeps at most ``capacity`` messages; when full, the oldest goes and the eviction is counted.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..core.message import WakuMessage


class TopicCache:
    """Messages per watched key (a pubsub topic or a content topic) since the last ``take``."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("cache capacity must be positive")
        self.capacity = capacity
        self.evictions = 0
        self._queues: dict[str, deque[WakuMessage]] = {}

    def watch(self, key: str) -> None:
        self._queues.setdefault(key, deque())

    def unwatch(self, key: str) -> None:
        self._queues.pop(key, None)

    def watching(self, key: str) -> bool:
        return key in self._queues

    @property
    def keys(self) -> list[str]:
        return sorted(self._queues)

    def add(self, key: str, message: WakuMessage) -> None:
        queue = self._queues.get(key)
        if queue is None:
            return
        if len(queue) >= self.capacity:
            queue.popleft()
            self.evictions += 1
        queue.append(message)

    def take(self, key: str) -> list[WakuMessage] | None:
        """The cached messages (oldest first), clearing them; None if ``key`` is not watched."""
        queue = self._queues.get(key)
        if queue is None:
            return None
        out = list(queue)
        queue.clear()
        return out

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())


class MessageCache:
    """One cache by pubsub topic, one by content topic, as nwaku's REST message cache."""

    def __init__(self, capacity: int) -> None:
        self.pubsub = TopicCache(capacity)
        self.content = TopicCache(capacity)

    def add(self, pubsub_topic: str, message: WakuMessage) -> None:
        self.pubsub.add(pubsub_topic, message)
        self.content.add(message.content_topic, message)

    def statistics(self) -> dict[str, Any]:
        return {
            "capacity": self.pubsub.capacity,
            "pubsub_topics": self.pubsub.keys,
            "content_topics": self.content.keys,
            "cached": {"pubsub": len(self.pubsub), "content": len(self.content)},
            "evictions": {"pubsub": self.pubsub.evictions, "content": self.content.evictions},
        }
