"""The lightpush rules, driven with a relay stand-in: every status code and both answer forms."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from w3msg_libp2p.core.codec import MAX_WAKU_MESSAGE_BYTES, encode_message
from w3msg_libp2p.core.errors import PublishError
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.core.topics import autoshard_pubsub_topic
from w3msg_libp2p.protocols.lightpush import codec
from w3msg_libp2p.protocols.lightpush.client import v2_status
from w3msg_libp2p.protocols.lightpush.rpc import (
    LightpushRequest,
    LightpushResponse,
    LightpushStatus,
    NoPeersToRelay,
    PushRequest,
    PushResponse,
    PushRpc,
    ServiceError,
    TooManyRequests,
    UnsupportedPubsubTopic,
    refusal_error,
)
from w3msg_libp2p.protocols.lightpush.server import (
    LightpushServer,
    Publish,
    PushOutcome,
    check_push,
    refuse_v2,
    refuse_v3,
)

SHARD0 = "/waku/2/rs/1/0"
CT = "/app/1/chat/proto"


@dataclass
class FakeRelay:
    """A relay on cluster 1 (8 shards) with scripted answers."""

    topics: set[str] = field(default_factory=lambda: {SHARD0, autoshard_pubsub_topic(CT, 1, 8)})
    peers: int = 2
    reason: str | None = None
    publish_error: Exception | None = None
    published: list[tuple[str, WakuMessage]] = field(default_factory=list)
    cluster_id: int = 1
    num_shards: int = 8

    def relays(self, pubsub_topic: str) -> bool:
        return pubsub_topic in self.topics

    def refusal(self, pubsub_topic: str, data: bytes) -> str | None:
        return self.reason

    def peer_count(self, pubsub_topic: str) -> int:
        return self.peers

    async def publish(self, pubsub_topic: str, message: WakuMessage) -> bytes:
        if self.publish_error is not None:
            raise self.publish_error
        self.published.append((pubsub_topic, message))
        return b"hash"


def msg(payload: bytes = b"hello", content_topic: str = CT) -> WakuMessage:
    return WakuMessage(payload, content_topic, timestamp=1)


def test_a_good_push_is_published_on_the_given_or_autosharded_topic() -> None:
    relay = FakeRelay()
    assert check_push(SHARD0, msg(), relay) == Publish(SHARD0, msg(), 2)
    assert check_push(None, msg(), relay) == Publish(autoshard_pubsub_topic(CT, 1, 8), msg(), 2)


@pytest.mark.parametrize(("topic", "message", "status"), [
    (SHARD0, msg(bytes(MAX_WAKU_MESSAGE_BYTES)), LightpushStatus.PAYLOAD_TOO_LARGE),
    (SHARD0, msg(content_topic="not-a-content-topic"), LightpushStatus.INVALID_MESSAGE),
    (None, msg(content_topic="/missing-parts"), LightpushStatus.INVALID_MESSAGE),
    ("/garbage", msg(), LightpushStatus.BAD_REQUEST),
    ("", msg(), LightpushStatus.BAD_REQUEST),
    ("/waku/2/rs/2/0", msg(), LightpushStatus.UNSUPPORTED_PUBSUB_TOPIC),  # another cluster
    ("/waku/2/rs/1/5", msg(), LightpushStatus.UNSUPPORTED_PUBSUB_TOPIC),  # a shard we do not relay
    ("/waku/2/default-waku/proto", msg(), LightpushStatus.UNSUPPORTED_PUBSUB_TOPIC),
])
def test_refusals(topic: str | None, message: WakuMessage, status: LightpushStatus) -> None:
    outcome = check_push(topic, message, FakeRelay())
    assert isinstance(outcome, PushOutcome)
    assert outcome.status == status and outcome.description


def test_the_size_limit_is_on_the_encoded_message() -> None:
    overhead = len(encode_message(msg(bytes(MAX_WAKU_MESSAGE_BYTES)))) - MAX_WAKU_MESSAGE_BYTES
    largest = msg(bytes(MAX_WAKU_MESSAGE_BYTES - overhead))
    assert len(encode_message(largest)) == MAX_WAKU_MESSAGE_BYTES
    assert isinstance(check_push(SHARD0, largest, FakeRelay()), Publish)
    outcome = check_push(SHARD0, msg(bytes(MAX_WAKU_MESSAGE_BYTES - overhead + 1)), FakeRelay())
    assert isinstance(outcome, PushOutcome) and outcome.status == 413


def test_relay_validation_and_peers() -> None:
    assert check_push(SHARD0, msg(), FakeRelay(reason="too old")) == PushOutcome(420, "too old")
    outcome = check_push(SHARD0, msg(), FakeRelay(peers=0))
    assert isinstance(outcome, PushOutcome) and outcome.status == LightpushStatus.NO_PEERS_TO_RELAY == 503


async def test_v3_handler_echoes_the_request_id_and_counts_outcomes() -> None:
    relay = FakeRelay()
    server = LightpushServer(relay, relay.publish)
    answer = await server.handle_v3("peer", codec.encode_request(LightpushRequest("r1", msg(), SHARD0)))
    assert codec.decode_response(answer) == LightpushResponse("r1", 200, None, 2)
    assert relay.published == [(SHARD0, msg())]
    answer = await server.handle_v3("peer", codec.encode_request(LightpushRequest("r2", msg(), "/waku/2/rs/1/7")))
    assert codec.decode_response(answer) == LightpushResponse(
        "r2", 421, "this node does not relay pubsub topic /waku/2/rs/1/7")
    relay.publish_error = PublishError("send queues full")
    answer = await server.handle_v3("peer", codec.encode_request(LightpushRequest("r3", msg(b"again"), SHARD0)))
    assert codec.decode_response(answer).status_code == 503
    assert server.statistics() == {"success": 1, "unsupported_pubsub_topic": 1, "no_peers_to_relay": 1}


async def test_v2_handler_answers_as_nwaku_does() -> None:
    relay = FakeRelay()
    server = LightpushServer(relay, relay.publish)
    ok = await server.handle_v2("p", codec.encode_push_rpc(PushRpc("a", request=PushRequest(SHARD0, msg()))))
    assert codec.decode_push_rpc(ok) == PushRpc("a", response=PushResponse(True, "OK"))
    relay.peers = 0
    no_peers = await server.handle_v2("p", codec.encode_push_rpc(PushRpc("b", request=PushRequest(SHARD0, msg()))))
    assert codec.decode_push_rpc(no_peers) == PushRpc("b", response=PushResponse(False, "not_published_to_any_peer"))
    empty = await server.handle_v2("p", codec.encode_push_rpc(PushRpc("c")))
    assert codec.decode_push_rpc(empty) == PushRpc("c", response=PushResponse(False, "empty_request_body_failure"))
    assert server.outcomes["bad_request"] == 1


def test_refusals_before_decoding() -> None:
    assert codec.decode_response(refuse_v3(429, "rate limit exceeded")) == LightpushResponse(
        "N/A", 429, "Request rejected due to too many requests")
    assert codec.decode_response(refuse_v3(400, "junk")).status_desc == "decode_rpc_failure: junk"
    assert codec.decode_response(refuse_v3(413, "too big")) == LightpushResponse("N/A", 413, "too big")
    assert codec.decode_push_rpc(refuse_v2(429, "x")) == PushRpc(
        "N/A", response=PushResponse(False, "TOO_MANY_REQUESTS"))


def test_client_side_status_of_v2_refusals_and_typed_errors() -> None:
    assert v2_status("TOO_MANY_REQUESTS") == 429
    assert v2_status("exceeds the rate limit") == 429  # go-waku's text
    assert v2_status("not_published_to_any_peer") == 503
    assert v2_status("decode_rpc_failure: x") == 400
    assert v2_status("something else") == 500
    assert isinstance(refusal_error(505, "no peers"), NoPeersToRelay)
    assert isinstance(refusal_error(503, "no peers"), NoPeersToRelay)
    assert isinstance(refusal_error(429, ""), TooManyRequests)
    assert isinstance(refusal_error(421, ""), UnsupportedPubsubTopic)
    err = refusal_error(599, "odd", "peer1")
    assert isinstance(err, ServiceError) and err.status_code == 599 and err.peer == "peer1"
