from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import load_vectors
from w3msg_libp2p.core.errors import TopicError
from w3msg_libp2p.core.topics import (
    ContentTopic,
    StaticShard,
    autoshard_pubsub_topic,
    parse_content_topic,
    parse_pubsub_topic,
    shard_for_content_topic,
    shard_topic,
)

AUTOSHARDING = load_vectors("waku/autosharding.json")


@pytest.mark.parametrize("case", AUTOSHARDING["cases"], ids=lambda c: f"{c['content_topic']}-{c['num_shards']}")
def test_autosharding_vectors(case: dict) -> None:
    assert shard_for_content_topic(case["content_topic"], case["num_shards"]) == case["expected_shard"]


def test_autoshard_pubsub_topic() -> None:
    assert autoshard_pubsub_topic("/toychat/2/huilong/proto", 1, 8) == "/waku/2/rs/1/3"


def test_parse_content_topic_with_and_without_generation() -> None:
    assert parse_content_topic("/toychat/2/huilong/proto") == ContentTopic("toychat", "2", "huilong", "proto")
    assert parse_content_topic("/0/toychat/2/huilong/proto") == ContentTopic("toychat", "2", "huilong", "proto", 0)


@pytest.mark.parametrize(
    ("topic", "complaint"),
    [
        ("", "empty"),
        ("toychat/2/huilong/proto", "must start with '/'"),
        ("/toychat/2/huilong", "form /application/version/name/encoding"),
        ("/toychat//huilong/proto", "version is empty"),
        ("/x/toychat/2/huilong/proto", "generation"),
        ("/1/toychat/2/huilong/proto", "not supported"),
        ("/a/b/c/d/e/f", "form"),
        ("/" + "a" * 2000 + "/1/b/c", "longer than"),
    ],
)
def test_bad_content_topics_say_what_is_wrong(topic: str, complaint: str) -> None:
    with pytest.raises(TopicError, match=complaint):
        parse_content_topic(topic)


def test_pubsub_topics() -> None:
    assert parse_pubsub_topic("/waku/2/rs/1/7") == StaticShard(1, 7)
    assert parse_pubsub_topic("/waku/2/default-waku/proto") is None
    for bad in ["", "/waku/2/rs/1", "/waku/2/rs/a/1", "/waku/2/rs/1/2/3", "/other/topic", "/waku/2/rs/1/99999"]:
        with pytest.raises(TopicError):
            parse_pubsub_topic(bad)
    with pytest.raises(TopicError):
        shard_topic(70000, 0)


@given(st.integers(0, 0xFFFF), st.integers(0, 1023))
def test_shard_topic_round_trip(cluster: int, shard: int) -> None:
    assert parse_pubsub_topic(shard_topic(cluster, shard)) == StaticShard(cluster, shard)


segment = st.text(alphabet=st.characters(blacklist_characters="/", blacklist_categories=("Cs",)),
                  min_size=1, max_size=20)


@given(segment, segment, segment, segment, st.integers(1, 1024))
def test_content_topic_round_trip_and_shard_in_range(app: str, ver: str, name: str, enc: str, shards: int) -> None:
    topic = f"/{app}/{ver}/{name}/{enc}"
    ct = parse_content_topic(topic)
    assert str(ct) == topic
    assert 0 <= shard_for_content_topic(ct, shards) < shards
    # the shard depends only on application and version
    assert shard_for_content_topic(f"/{app}/{ver}/other/x", shards) == shard_for_content_topic(ct, shards)
