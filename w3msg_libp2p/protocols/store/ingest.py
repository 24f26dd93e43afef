"""What the store archives and how relayed messages wait for the writer. Pure: no trio, no I/O.

The relay hands every delivered message to a tracer synchronously; the tracer only appends to
an ``IngestQueue`` (O(1), bounded: a full queue drops and counts, it never slows the relay).
The writer takes up to ``max_batch`` at a time and stores them in one transaction, so batches
grow by themselves while a commit is in progress (group commit).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ...core.codec import encode_message
from ...core.message import Envelope
from .archive import RetentionPolicy, StoredMessage

DEFAULT_QUEUE_CAPACITY = 100_000
DEFAULT_MAX_BATCH = 500


def is_storable(env: Envelope) -> bool:
    """Ephemeral messages are never stored (13/WAKU2-STORE: SHOULD NOT)."""
    return not env.message.ephemeral


def stored_message(env: Envelope) -> StoredMessage:
    """The archive row of a delivered message; a missing (or zero) timestamp is replaced by
    the time we received it, as nwaku does. The hash is the relay's, computed on the original."""
    msg = env.message
    return StoredMessage(
        hash=env.hash,
        pubsub_topic=env.pubsub_topic,
        content_topic=msg.content_topic,
        timestamp=msg.timestamp or env.received_at_ns,
        data=env.data if env.data is not None else encode_message(msg),  # as received, when known
    )


def stored_messages(envelopes: Iterable[Envelope]) -> list[StoredMessage]:
    """Rows for a batch; a hash seen twice in one batch is kept once."""
    rows: dict[bytes, StoredMessage] = {}
    for env in envelopes:
        if env.hash not in rows:
            rows[env.hash] = stored_message(env)
    return list(rows.values())


def retention_policy(max_age: float | None, max_messages: int | None, max_bytes: int | None) -> RetentionPolicy:
    return RetentionPolicy(
        max_age_ns=None if max_age is None else int(max_age * 1e9),
        max_messages=max_messages,
        max_bytes=max_bytes,
    )


@dataclass(slots=True)
class IngestStats:
    queued: int = 0
    queue_full: int = 0  # dropped: the writer fell behind by a whole queue
    ephemeral: int = 0  # not stored, by rule
    stored: int = 0  # new rows written
    duplicates: int = 0  # already stored (or twice in one batch)
    write_failures: int = 0  # batches the archive refused after retries
    lost: int = 0  # messages in those batches


class IngestQueue:
    """A bounded FIFO of envelopes waiting to be stored."""

    def __init__(self, capacity: int = DEFAULT_QUEUE_CAPACITY, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if capacity <= 0 or max_batch <= 0:
            raise ValueError("ingest queue capacity and batch size must be positive")
        self.capacity = capacity
        self.max_batch = max_batch
        self.stats = IngestStats()
        self._items: deque[Envelope] = deque()

    def offer(self, env: Envelope) -> bool:
        """Queue ``env`` if it is to be stored; False if it was skipped or dropped."""
        if not is_storable(env):
            self.stats.ephemeral += 1
            return False
        if len(self._items) >= self.capacity:
            self.stats.queue_full += 1
            return False
        self._items.append(env)
        self.stats.queued += 1
        return True

    def take_batch(self) -> list[Envelope]:
        """Up to ``max_batch`` of the oldest queued envelopes."""
        items = self._items
        return [items.popleft() for _ in range(min(self.max_batch, len(items)))]

    def record_write(self, batch_size: int, new: int) -> None:
        self.stats.stored += new
        self.stats.duplicates += batch_size - new

    def record_failure(self, batch_size: int) -> None:
        self.stats.write_failures += 1
        self.stats.lost += batch_size

    def __len__(self) -> int:
        return len(self._items)
