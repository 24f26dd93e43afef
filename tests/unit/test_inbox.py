"""Bounded subscriptions: matching, drops when full (never blocking), back-pressure signal."""

from __future__ import annotations

from w3msg_libp2p.core.message import Envelope, WakuMessage
from w3msg_libp2p.protocols.inbox import Inbox


def env(topic: str, content_topic: str, n: int = 0) -> Envelope:
    return Envelope(topic, WakuMessage(bytes([n]), content_topic), bytes([n]) * 32, None, 0)


def test_matching_full_and_closed_subscriptions() -> None:
    inbox = Inbox()
    everything = inbox.open(None, None, buffer=4)
    shard0_chat = inbox.open("/waku/2/rs/1/0", ["/a/1/chat/proto"], buffer=2)
    assert inbox.deliver(env("/waku/2/rs/1/0", "/a/1/chat/proto", 1)) == (2, 0)
    assert inbox.deliver(env("/waku/2/rs/1/1", "/a/1/chat/proto", 2)) == (1, 0)
    assert inbox.deliver(env("/waku/2/rs/1/0", "/a/1/other/proto", 3)) == (1, 0)
    assert not inbox.backlogged()
    assert inbox.deliver(env("/waku/2/rs/1/0", "/a/1/chat/proto", 4)) == (2, 0)
    assert inbox.backlogged()  # shard0_chat is full (2 of 2); everything is at 4 of 4 too
    assert inbox.deliver(env("/waku/2/rs/1/0", "/a/1/chat/proto", 5)) == (0, 2)
    assert (everything.dropped, shard0_chat.dropped) == (1, 1)
    assert [shard0_chat.receive_nowait().message.payload for _ in range(2)] == [b"\x01", b"\x04"]
    assert inbox.max_depth() == 4
    with everything:
        pass
    assert len(inbox) == 1
    assert inbox.deliver(env("/waku/2/rs/1/0", "/a/1/chat/proto", 6)) == (1, 0)
