"""The seen cache (time-based de-duplication) and the message cache (gossip window). Pure."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


class SeenCache:
    """Message ids seen in the last ``ttl`` seconds. Expiry is amortised O(1) per id."""

    __slots__ = ("_expiry", "_ids", "ttl")

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._ids: set[bytes] = set()
        self._expiry: deque[tuple[float, bytes]] = deque()

    def __contains__(self, msg_id: bytes) -> bool:
        return msg_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, msg_id: bytes, now: float) -> bool:
        """Record ``msg_id``; False if it was already there."""
        if msg_id in self._ids:
            return False
        self._ids.add(msg_id)
        self._expiry.append((now + self.ttl, msg_id))
        return True

    def expire(self, now: float) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            self._ids.discard(expiry.popleft()[1])


@dataclass(slots=True)
class CachedMessage:
    topic: str
    publish_field: bytes  # splice-ready RPC.publish field
    iwant_counts: dict[str, int] = field(default_factory=dict)


class MessageCache:
    """Recent messages in ``history_length`` heartbeat windows; the newest ``history_gossip``
    windows are advertised in IHAVE."""

    __slots__ = ("_msgs", "_windows", "history_gossip")

    def __init__(self, history_length: int, history_gossip: int) -> None:
        self._msgs: dict[bytes, CachedMessage] = {}
        self._windows: deque[list[tuple[bytes, str]]] = deque([[] for _ in range(history_length)])
        self.history_gossip = history_gossip

    def __len__(self) -> int:
        return len(self._msgs)

    def put(self, msg_id: bytes, topic: str, publish_field: bytes) -> None:
        if msg_id in self._msgs:
            return
        self._msgs[msg_id] = CachedMessage(topic, publish_field)
        self._windows[0].append((msg_id, topic))

    def get(self, msg_id: bytes) -> CachedMessage | None:
        return self._msgs.get(msg_id)

    def get_for_peer(self, msg_id: bytes, peer: str, max_transmissions: int) -> CachedMessage | None:
        """The message, unless ``peer`` already asked for it ``max_transmissions`` times."""
        cached = self._msgs.get(msg_id)
        if cached is None:
            return None
        count = cached.iwant_counts.get(peer, 0) + 1
        cached.iwant_counts[peer] = count
        return cached if count <= max_transmissions else None

    def gossip_ids(self, topic: str) -> list[bytes]:
        ids: list[bytes] = []
        for i in range(min(self.history_gossip, len(self._windows))):
            ids.extend(mid for mid, t in self._windows[i] if t == topic)
        return ids

    def gossip_ids_by_topic(self) -> dict[str, list[bytes]]:
        out: dict[str, list[bytes]] = {}
        for i in range(min(self.history_gossip, len(self._windows))):
            for mid, topic in self._windows[i]:
                out.setdefault(topic, []).append(mid)
        return out

    def shift(self) -> None:
        for msg_id, _ in self._windows.pop():
            self._msgs.pop(msg_id, None)
        self._windows.appendleft([])
