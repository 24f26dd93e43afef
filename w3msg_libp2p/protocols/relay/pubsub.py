"""Plain libp2p gossipsub for applications that are not Waku: raw bytes on any topic, with the
defaults go-libp2p-pubsub, rust-libp2p and js-libp2p run (StrictSign, from+seqno message ids,
/meshsub/1.1.0 and /meshsub/1.0.0, 1 MiB messages). The router and its trio adapter are the ones
Waku relay runs on; only the signature policy, the ids, the protocol ids and validation differ.

    async with trio.open_nursery() as nursery:
        pubsub = Gossipsub(host)
        await nursery.start(pubsub.run)
        pubsub.subscribe("chat")
        with pubsub.messages("chat") as sub:
            await pubsub.publish("chat", b"hello")
            msg = await sub.receive()
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import trio
from libp2p.abc import IHost

from .events import Deliver
from .params import MESHSUB_V10, MESHSUB_V11, GossipParams
from .router import GossipRouter, MessageIdFn, waku_message_id
from .service import RelayService
from .signing import Author, SignaturePolicy, author_seqno_message_id

LIBP2P_PROTOCOLS = (MESHSUB_V11, MESHSUB_V10)
LIBP2P_MAX_MESSAGE_BYTES = 1024 * 1024  # go-libp2p-pubsub's and js-libp2p's default


@dataclass(frozen=True, slots=True)
class PubsubMessage:
    topic: str
    data: bytes
    msg_id: bytes
    received_from: str | None  # the peer that forwarded it to us; None for our own


class TopicSubscription:
    """Messages of one topic (or all) in a bounded buffer; a full buffer drops and counts."""

    def __init__(self, topic: str | None, buffer: int, owner: Gossipsub) -> None:
        self.topic = topic
        self.dropped = 0
        self._send, self._recv = trio.open_memory_channel[PubsubMessage](buffer)
        self._owner = owner

    def offer(self, msg: PubsubMessage) -> None:
        if self.topic is None or msg.topic == self.topic:
            try:
                self._send.send_nowait(msg)
            except trio.WouldBlock:
                self.dropped += 1
                self._owner.router.drop("subscriber_full")

    async def receive(self) -> PubsubMessage:
        return await self._recv.receive()

    def __aiter__(self) -> TopicSubscription:
        return self

    async def __anext__(self) -> PubsubMessage:
        try:
            return await self._recv.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def close(self) -> None:
        self._owner._subscriptions.discard(self)
        self._send.close()

    def __enter__(self) -> TopicSubscription:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Gossipsub:
    def __init__(self, host: IHost, *, params: GossipParams | None = None,
                 signature_policy: SignaturePolicy = SignaturePolicy.STRICT_SIGN,
                 rng: random.Random | None = None, publish_timeout: float = 5.0) -> None:
        params = params or GossipParams(max_message_size=LIBP2P_MAX_MESSAGE_BYTES)
        author: Author | None = None
        message_id: MessageIdFn = waku_message_id  # StrictNoSign has no author: ids come from the data
        if signature_policy is SignaturePolicy.STRICT_SIGN:
            author = Author(host.get_public_key().serialize(), host.get_private_key().sign)
            message_id = author_seqno_message_id
        self.router = GossipRouter(params, rng=rng or random.SystemRandom(), message_id=message_id,
                                   signature_policy=signature_policy, author=author)
        self.service = RelayService(host, self.router, self._on_deliver, protocols=LIBP2P_PROTOCOLS)
        self.publish_timeout = publish_timeout
        self._subscriptions: set[TopicSubscription] = set()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await self.service.run(task_status=task_status)

    def subscribe(self, topic: str) -> None:
        self.service.subscribe(topic)

    def unsubscribe(self, topic: str) -> None:
        self.service.unsubscribe(topic)

    def messages(self, topic: str | None = None, buffer: int = 4096) -> TopicSubscription:
        """Messages delivered on ``topic`` (all topics when None) from now on."""
        sub = TopicSubscription(topic, buffer, self)
        self._subscriptions.add(sub)
        return sub

    async def publish(self, topic: str, data: bytes) -> bytes:
        """Publish ``data``; returns its message id. Raises PublishError when it cannot go out."""
        return await self.service.publish(topic, data, self.publish_timeout)

    def mesh_peers(self, topic: str) -> list[str]:
        return sorted(self.router.mesh.get(topic, ()))

    def _on_deliver(self, event: Deliver) -> None:
        msg = PubsubMessage(event.topic, event.data, event.msg_id, event.received_from)
        for sub in list(self._subscriptions):
            sub.offer(msg)
