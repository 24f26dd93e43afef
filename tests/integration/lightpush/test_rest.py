"""POST /lightpush/v1/message and /lightpush/v3/message over HTTP against real nodes."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import local_config
from tests.integration.lightpush.conftest import CONTENT_TOPIC, SHARD0, receive
from w3msg_libp2p.node.config import RestConfig
from w3msg_libp2p.node.node import Node, open_node
from w3msg_libp2p.node.service_config import LightpushConfig

V1 = "/lightpush/v1/message"
V3 = "/lightpush/v3/message"
SHARD0_CT = "/lprest0/1/chat/proto"  # autoshards to shard 0 of cluster 1 (8 shards)


def with_lightpush_routes(node: Node) -> str:
    """The node's REST URL; the REST server mounts the lightpush routes on every node."""
    assert node.rest is not None and node.rest_url is not None
    assert any(rule.rule == V3 for rule in node.rest.app.url_map.iter_rules())
    return node.rest_url


def push_body(payload: bytes = b"via rest", topic: str | None = SHARD0, **message: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"message": {"payload": base64.b64encode(payload).decode(), "contentTopic": CONTENT_TOPIC,
                                        "timestamp": time.time_ns(), **message}}
    if topic is not None:
        body["pubsubTopic"] = topic
    return body


@dataclass
class RestNet:
    a: Node  # relay + lightpush server, REST
    b: Node  # no relay, REST, A as its service peer
    c: Node  # relay peer of A, no lightpush
    http: httpx.AsyncClient


@pytest.fixture
async def rest_net(tmp_path: Path) -> AsyncIterator[RestNet]:
    rest = RestConfig(port=0)
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            open_node(local_config(tmp_path, "a", lightpush=LightpushConfig(), rest=rest)))
        c = await stack.enter_async_context(open_node(local_config(tmp_path, "c")))
        await c.connect(a.listen_addrs()[0])
        assert a.relay is not None and c.relay is not None
        await a.relay.wait_for_mesh(SHARD0)
        b = await stack.enter_async_context(open_node(local_config(
            tmp_path, "b", relay=None, rest=rest, service_peers=(a.listen_addrs()[0],))))
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=20))
        yield RestNet(a, b, c, http)


async def test_v3_and_v1_push_through_the_service_peer(rest_net: RestNet) -> None:
    url = with_lightpush_routes(rest_net.b)
    assert rest_net.c.relay is not None
    with rest_net.c.relay.messages(SHARD0) as sub:
        response = await rest_net.http.post(url + V3, json=push_body(b"v3 via rest"))
        assert (response.status_code, response.json()) == (200, {"relayPeerCount": 1})
        assert response.headers["content-type"].startswith("application/json")
        assert (await receive(sub)).message.payload == b"v3 via rest"
        response = await rest_net.http.post(url + V1, json=push_body(b"v1 via rest"))
        assert (response.status_code, response.text) == (200, "OK")
        assert (await receive(sub)).message.payload == b"v1 via rest"
    assert rest_net.a.lightpush.statistics()["v3"]["responses"] == 1
    assert rest_net.a.lightpush.statistics()["v2"]["responses"] == 1


async def test_refusals_map_to_http_statuses(rest_net: RestNet) -> None:
    url = with_lightpush_routes(rest_net.b)
    http = rest_net.http
    response = await http.post(url + V3, json=push_body(topic="/waku/2/rs/1/5"))
    assert response.status_code == 421
    assert response.json() == {"statusDesc": "this node does not relay pubsub topic /waku/2/rs/1/5"}
    response = await http.post(url + V1, json=push_body(topic="/waku/2/rs/1/5"))
    assert (response.status_code, response.text) == (
        503, "Failed to request a message push: this node does not relay pubsub topic /waku/2/rs/1/5")
    response = await http.post(url + V3, json=push_body(payload=bytes(160 * 1024)))
    assert response.status_code == 413
    response = await http.post(url + V3, json={"pubsubTopic": SHARD0})
    assert response.status_code == 400
    assert response.json()["statusDesc"].startswith("Invalid push request! ")
    response = await http.post(url + V3, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "statusDesc" in response.json()
    response = await http.post(url + V1, json={"message": {"payload": "%%%", "contentTopic": CONTENT_TOPIC}})
    assert response.status_code == 400 and "base64" in response.text
    assert rest_net.b.rest is not None
    refusals = rest_net.b.rest.statistics()["refusals"]
    assert refusals[f"POST {V3}"] == {"lightpush_unsupported_pubsub_topic": 1, "lightpush_payload_too_large": 1,
                                      "missing_field": 1, "bad_json": 1}
    assert refusals[f"POST {V1}"] == {"push_failed": 1, "bad_base64": 1}


async def test_a_service_node_without_lightpush_peers_pushes_itself(rest_net: RestNet) -> None:
    # A's peers (B, C) serve no lightpush: A handles the push on its own relay
    url = with_lightpush_routes(rest_net.a)
    assert rest_net.c.relay is not None and rest_net.c.relay.pubsub_topic_for(SHARD0_CT) == SHARD0
    with rest_net.c.relay.messages(SHARD0) as sub:
        body = push_body(b"self-hosted", topic=None, contentTopic=SHARD0_CT)
        response = await rest_net.http.post(url + V3, json=body)
        assert (response.status_code, response.json()) == (200, {"relayPeerCount": 1})
        env = await receive(sub)
    assert env.message.payload == b"self-hosted" and env.pubsub_topic == SHARD0
    response = await rest_net.http.post(url + V1, json=push_body(b"self-hosted v1"))
    assert (response.status_code, response.text) == (200, "OK")


async def test_no_service_peer_is_503(tmp_path: Path) -> None:
    async with open_node(local_config(tmp_path, "lonely", rest=RestConfig(port=0))) as node, \
            httpx.AsyncClient(timeout=20) as http:
        url = with_lightpush_routes(node)
        response = await http.post(url + V3, json=push_body())
        assert (response.status_code, response.json()) == (
            503, {"statusDesc": "No suitable service peer & no discovery method"})
        response = await http.post(url + V1, json=push_body())
        assert response.status_code == 503
