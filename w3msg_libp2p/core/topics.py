"""Content topics, static-shard pubsub topics and autosharding (relay-sharding RFC 51)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .errors import TopicError

MAX_TOPIC_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class ContentTopic:
    """``/{application}/{version}/{name}/{encoding}`` with an optional ``/{generation}`` prefix."""

    application: str
    version: str
    name: str
    encoding: str
    generation: int = 0

    def __str__(self) -> str:
        return f"/{self.application}/{self.version}/{self.name}/{self.encoding}"


def parse_content_topic(topic: str) -> ContentTopic:
    if not isinstance(topic, str) or not topic:
        raise TopicError("content topic is empty")
    if len(topic) > MAX_TOPIC_LENGTH:
        raise TopicError(f"content topic is longer than {MAX_TOPIC_LENGTH} characters")
    if not topic.startswith("/"):
        raise TopicError(f"content topic {topic!r} must start with '/'")
    parts = topic[1:].split("/")
    generation = 0
    if len(parts) == 5:
        gen, *parts = parts
        if not gen.isdigit():
            raise TopicError(f"content topic {topic!r}: generation {gen!r} is not a number")
        generation = int(gen)
        if generation != 0:
            raise TopicError(f"content topic {topic!r}: generation {generation} is not supported (only 0)")
    if len(parts) != 4:
        raise TopicError(
            f"content topic {topic!r} must have the form /application/version/name/encoding"
        )
    names = ("application", "version", "name", "encoding")
    for label, part in zip(names, parts, strict=True):
        if not part:
            raise TopicError(f"content topic {topic!r}: {label} is empty")
    return ContentTopic(parts[0], parts[1], parts[2], parts[3], generation)


@dataclass(frozen=True, slots=True)
class StaticShard:
    cluster_id: int
    shard: int

    def __str__(self) -> str:
        return f"/waku/2/rs/{self.cluster_id}/{self.shard}"


MAX_CLUSTER_ID = 0xFFFF
MAX_SHARD = 1023


def shard_topic(cluster_id: int, shard: int) -> str:
    return str(make_shard(cluster_id, shard))


def make_shard(cluster_id: int, shard: int) -> StaticShard:
    if not 0 <= cluster_id <= MAX_CLUSTER_ID:
        raise TopicError(f"cluster id {cluster_id} out of range 0..{MAX_CLUSTER_ID}")
    if not 0 <= shard <= MAX_SHARD:
        raise TopicError(f"shard {shard} out of range 0..{MAX_SHARD}")
    return StaticShard(cluster_id, shard)


def parse_pubsub_topic(topic: str) -> StaticShard | None:
    """The static shard a pubsub topic names, or None for a named (non-sharded) topic.

    Raises TopicError for a topic that claims to be a shard (``/waku/2/rs/``) but is malformed,
    and for anything that is not a ``/waku/2/...`` topic.
    """
    if not isinstance(topic, str) or not topic:
        raise TopicError("pubsub topic is empty")
    if len(topic) > MAX_TOPIC_LENGTH:
        raise TopicError(f"pubsub topic is longer than {MAX_TOPIC_LENGTH} characters")
    if not topic.startswith("/waku/2/"):
        raise TopicError(f"pubsub topic {topic!r} must start with /waku/2/")
    if not topic.startswith("/waku/2/rs/"):
        if topic == "/waku/2/" or "//" in topic:
            raise TopicError(f"pubsub topic {topic!r} is malformed")
        return None
    parts = topic[len("/waku/2/rs/") :].split("/")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise TopicError(f"pubsub topic {topic!r} must have the form /waku/2/rs/<cluster>/<shard>")
    return make_shard(int(parts[0]), int(parts[1]))


def shard_for_content_topic(topic: str | ContentTopic, num_shards: int) -> int:
    """Autosharding: last 8 bytes of sha256(application || version), big-endian, mod num_shards."""
    if num_shards <= 0:
        raise TopicError(f"number of shards must be positive, got {num_shards}")
    ct = topic if isinstance(topic, ContentTopic) else parse_content_topic(topic)
    digest = hashlib.sha256((ct.application + ct.version).encode()).digest()
    return int.from_bytes(digest[-8:], "big") % num_shards


def autoshard_pubsub_topic(content_topic: str | ContentTopic, cluster_id: int, num_shards: int) -> str:
    return shard_topic(cluster_id, shard_for_content_topic(content_topic, num_shards))
