from __future__ import annotations

import pytest

from tests.conftest import load_vectors
from w3msg_libp2p.core.message import WakuMessage, message_hash

VECTORS = load_vectors("waku/message_hash.json")


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_spec_vectors(case: dict) -> None:
    msg = WakuMessage(
        payload=bytes.fromhex(case["payload"]),
        content_topic=case["content_topic"],
        meta=bytes.fromhex(case["meta"]) if case["meta"] is not None else None,
        timestamp=case["timestamp"],
    )
    assert message_hash(case["pubsub_topic"], msg).hex() == case["expected"]


def test_missing_timestamp_hashes_as_zero_like_nwaku() -> None:
    base = WakuMessage(payload=b"\x01", content_topic="/a/1/b/c")
    assert message_hash("/waku/2/rs/1/0", base) == message_hash(
        "/waku/2/rs/1/0", WakuMessage(payload=b"\x01", content_topic="/a/1/b/c", timestamp=0)
    )


def test_hash_covers_every_hashed_field() -> None:
    base = WakuMessage(payload=b"p", content_topic="/a/1/b/c", meta=b"m", timestamp=5)
    h = message_hash("/waku/2/rs/1/0", base)
    variants = [
        ("/waku/2/rs/1/1", base),
        ("/waku/2/rs/1/0", WakuMessage(b"q", "/a/1/b/c", meta=b"m", timestamp=5)),
        ("/waku/2/rs/1/0", WakuMessage(b"p", "/a/1/b/d", meta=b"m", timestamp=5)),
        ("/waku/2/rs/1/0", WakuMessage(b"p", "/a/1/b/c", meta=b"n", timestamp=5)),
        ("/waku/2/rs/1/0", WakuMessage(b"p", "/a/1/b/c", meta=b"m", timestamp=6)),
    ]
    for topic, msg in variants:
        assert message_hash(topic, msg) != h
    # version and ephemeral are not part of the hash (spec)
    assert message_hash("/waku/2/rs/1/0", WakuMessage(b"p", "/a/1/b/c", version=1, meta=b"m",
                                                      timestamp=5, ephemeral=True)) == h
