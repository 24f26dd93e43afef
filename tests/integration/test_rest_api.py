"""The nwaku-compatible REST API, driven over HTTP (httpx under trio) against real nodes on 127.0.0.1."""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import trio
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.peer.id import ID

from w3msg_libp2p.api.cache import TopicCache
from w3msg_libp2p.api.parsing import Refused, parse_relay_message, relay_message_json
from w3msg_libp2p.api.rest import RestServer
from w3msg_libp2p.core.errors import ConfigError
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.node.config import NodeConfig, RestConfig
from w3msg_libp2p.node.node import Node, open_node

SHARD0 = "/waku/2/rs/1/0"
CONTENT_TOPIC = "/resttest/1/chat/proto"


def node_config(tmp_path: Path, name: str, **changes: Any) -> NodeConfig:
    rest = changes.pop("rest", RestConfig(port=0))
    return NodeConfig(
        data_dir=tmp_path / name,
        listen=("/ip4/127.0.0.1/tcp/0",),
        rest=rest,
        shards=(0,),
        cluster_id=1,
        **changes,
    )


async def connect_pair(a: Node, b: Node, *topics: str) -> None:
    await b.connect(a.listen_addrs()[0])
    assert a.relay is not None and b.relay is not None
    for topic in topics or (SHARD0,):
        await a.relay.wait_for_mesh(topic)
        await b.relay.wait_for_mesh(topic)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as c:
        yield c


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with open_node(node_config(tmp_path, "solo")) as n:
        yield n


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    async with open_node(node_config(tmp_path, "a")) as a, open_node(node_config(tmp_path, "b")) as b:
        await connect_pair(a, b)
        yield a, b


def relay_body(payload: bytes, content_topic: str = CONTENT_TOPIC, **extra: Any) -> dict[str, Any]:
    return {
        "payload": base64.b64encode(payload).decode(),
        "contentTopic": content_topic,
        "timestamp": time.time_ns(),
        **extra,
    }


def messages_path(topic: str) -> str:
    return f"/relay/v1/messages/{quote(topic, safe='')}"


def auto_messages_path(content_topic: str) -> str:
    return f"/relay/v1/auto/messages/{quote(content_topic, safe='')}"


async def poll(
    client: httpx.AsyncClient, url: str, count: int, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """GET ``url`` (each GET clears what it returns) until ``count`` messages have come."""
    got: list[dict[str, Any]] = []
    with trio.fail_after(timeout):
        while len(got) < count:
            r = await client.get(url)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("application/json")
            got += r.json()
            if len(got) < count:
                await trio.sleep(0.05)
    return got


# -- node endpoints ------------------------------------------------------------------------------
async def test_info_version_health_on_a_lone_node(node: Node, client: httpx.AsyncClient) -> None:
    url = node.rest_url
    for path in ("/debug/v1/info", "/info"):
        r = await client.get(f"{url}{path}")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json() == {"listenAddresses": node.listen_addrs(), "enrUri": node.enr_uri}
        assert r.json()["enrUri"].startswith("enr:")  # a secp256k1 node signs its own record
    for path in ("/debug/v1/version", "/version"):
        r = await client.get(f"{url}{path}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        assert r.text == node.version
    r = await client.get(f"{url}/health")
    assert r.status_code == 200
    assert r.json() == {
        "nodeHealth": "READY",
        "protocolsHealth": [{"Relay": "NOT_READY", "desc": "No connected peers"}],
    }


async def test_health_is_ready_with_a_relay_peer(pair: tuple[Node, Node], client: httpx.AsyncClient) -> None:
    a, _ = pair
    r = await client.get(f"{a.rest_url}/health")
    assert r.json() == {"nodeHealth": "READY", "protocolsHealth": [{"Relay": "READY"}]}


async def test_relay_routes_answer_404_when_relay_is_not_mounted(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    async with open_node(node_config(tmp_path, "norelay", relay=None)) as n:
        r = await client.get(f"{n.rest_url}{messages_path(SHARD0)}")
        assert r.status_code == 404
        assert r.text == "/relay endpoints are not available. Please check your configuration: --relay"
        health = (await client.get(f"{n.rest_url}/health")).json()
        assert health["protocolsHealth"] == [{"Relay": "NOT_MOUNTED"}]
        assert n.statistics()['rest']["refusals"] == {"GET unmatched": {"not_mounted": 1}}


# -- relay: static shards -----------------------------------------------------------------------
async def test_publish_on_a_is_polled_on_b(pair: tuple[Node, Node], client: httpx.AsyncClient) -> None:
    a, b = pair
    payload = os.urandom(100)
    body = relay_body(payload, meta=base64.b64encode(b"meta!").decode(), ephemeral=True)
    r = await client.post(f"{a.rest_url}{messages_path(SHARD0)}", json=body)
    assert (r.status_code, r.text) == (200, "OK")
    assert r.headers["content-type"].startswith("text/plain")

    [got] = await poll(client, f"{b.rest_url}{messages_path(SHARD0)}", 1)
    assert got == {
        "payload": body["payload"],
        "contentTopic": CONTENT_TOPIC,
        "version": 0,
        "timestamp": body["timestamp"],
        "meta": body["meta"],
        "ephemeral": True,
        "proof": "",
    }
    assert base64.b64decode(got["payload"]) == payload
    # GET returned and cleared: nothing new since
    r = await client.get(f"{b.rest_url}{messages_path(SHARD0)}")
    assert (r.status_code, r.json()) == (200, [])
    # the publisher caches its own message too (nwaku delivers to itself); an unencoded topic works
    [own] = await poll(client, f"{a.rest_url}/relay/v1/messages/{SHARD0}", 1)
    assert own["timestamp"] == body["timestamp"]


async def test_missing_timestamp_is_stamped_with_now(
    pair: tuple[Node, Node], client: httpx.AsyncClient
) -> None:
    a, b = pair
    before = time.time_ns()
    body = {"payload": base64.b64encode(b"no clock").decode(), "contentTopic": CONTENT_TOPIC}
    assert (await client.post(f"{a.rest_url}{messages_path(SHARD0)}", json=body)).status_code == 200
    [got] = await poll(client, f"{b.rest_url}{messages_path(SHARD0)}", 1)
    assert before <= got["timestamp"] <= time.time_ns()


async def test_subscribe_and_unsubscribe_a_shard_over_rest(
    pair: tuple[Node, Node], client: httpx.AsyncClient
) -> None:
    a, b = pair
    assert a.relay is not None and b.relay is not None
    topic = "/waku/2/rs/1/3"
    r = await client.get(f"{b.rest_url}{messages_path(topic)}")
    assert r.status_code == 404  # nwaku: not subscribed
    for n in (a, b):
        r = await client.post(f"{n.rest_url}/relay/v1/subscriptions", json=[topic])
        assert (r.status_code, r.text) == (200, "OK")
        assert topic in n.relay.subscribed_topics  # type: ignore[union-attr]
    await a.relay.wait_for_mesh(topic)
    await b.relay.wait_for_mesh(topic)

    body = relay_body(b"on shard 3")
    assert (await client.post(f"{a.rest_url}{messages_path(topic)}", json=body)).status_code == 200
    [got] = await poll(client, f"{b.rest_url}{messages_path(topic)}", 1)
    assert got["payload"] == body["payload"]
    assert (await client.get(f"{b.rest_url}{messages_path(SHARD0)}")).json() == []  # other shard untouched

    r = await client.request("DELETE", f"{b.rest_url}/relay/v1/subscriptions", json=[topic])
    assert (r.status_code, r.text) == (200, "OK")
    assert topic not in b.relay.subscribed_topics
    assert (await client.get(f"{b.rest_url}{messages_path(topic)}")).status_code == 404


async def test_cache_keeps_the_newest_and_counts_evictions(tmp_path: Path, client: httpx.AsyncClient) -> None:
    config_b = node_config(tmp_path, "b", rest=RestConfig(port=0, cache_capacity=2))
    async with open_node(node_config(tmp_path, "a")) as a, open_node(config_b) as b:
        await connect_pair(a, b)
        assert a.relay is not None
        for i in range(3):
            await a.relay.publish(
                SHARD0, WakuMessage(f"m{i}".encode(), CONTENT_TOPIC, timestamp=time.time_ns())
            )
        with trio.fail_after(10):
            while b.statistics()['rest']["cache"]["evictions"]["pubsub"] < 1:  # type: ignore[index]
                await trio.sleep(0.02)
        got = (await client.get(f"{b.rest_url}{messages_path(SHARD0)}")).json()
        assert [base64.b64decode(m["payload"]) for m in got] == [b"m1", b"m2"]
        assert b.statistics()['rest']["cache"]["evictions"] == {"pubsub": 1, "content": 0}  # type: ignore[index]


# -- relay: autosharding -------------------------------------------------------------------------
async def test_auto_subscribe_publish_poll_unsubscribe(
    pair: tuple[Node, Node], client: httpx.AsyncClient
) -> None:
    a, b = pair
    assert a.relay is not None and b.relay is not None
    ct = "/autotest/1/chat/proto"
    sibling = "/autotest/1/other/proto"  # same application and version: same shard
    shard = a.relay.pubsub_topic_for(ct)
    assert shard == a.relay.pubsub_topic_for(sibling) != SHARD0
    assert (await client.get(f"{b.rest_url}{auto_messages_path(ct)}")).status_code == 404
    for n in (a, b):
        r = await client.post(f"{n.rest_url}/relay/v1/auto/subscriptions", json=[ct])
        assert (r.status_code, r.text) == (200, "OK")
    await a.relay.wait_for_mesh(shard)
    await b.relay.wait_for_mesh(shard)

    other = relay_body(b"not for ct", sibling)
    wanted = relay_body(b"for ct", ct)
    for body in (other, wanted):
        r = await client.post(f"{a.rest_url}/relay/v1/auto/messages", json=body)
        assert (r.status_code, r.text) == (200, "OK")
    [got] = await poll(client, f"{b.rest_url}{auto_messages_path(ct)}", 1)
    assert (got["payload"], got["contentTopic"], got["timestamp"]) == (
        wanted["payload"],
        ct,
        wanted["timestamp"],
    )
    await trio.sleep(0.2)  # the sibling message was delivered too, but only to the shard
    assert (await client.get(f"{b.rest_url}{auto_messages_path(ct)}")).json() == []

    # b leaves the shard's mesh only when no subscribed content topic needs it any more
    assert (await client.post(f"{b.rest_url}/relay/v1/auto/subscriptions", json=[sibling])).status_code == 200
    r = await client.request("DELETE", f"{b.rest_url}/relay/v1/auto/subscriptions", json=[ct])
    assert (r.status_code, r.text) == (200, "OK")
    assert (await client.get(f"{b.rest_url}{auto_messages_path(ct)}")).status_code == 404
    assert shard in b.relay.subscribed_topics
    r = await client.request("DELETE", f"{b.rest_url}/relay/v1/auto/subscriptions", json=[sibling])
    assert (r.status_code, r.text) == (200, "OK")
    assert shard not in b.relay.subscribed_topics


# -- admin -----------------------------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_admin_post_peers_connects_and_get_lists_them(
    pair: tuple[Node, Node], tmp_path: Path, client: httpx.AsyncClient
) -> None:
    a, _ = pair
    async with open_node(node_config(tmp_path, "c")) as c:
        r = await client.post(f"{c.rest_url}/admin/v1/peers", json=[a.listen_addrs()[0]])
        assert (r.status_code, r.text) == (200, "OK")
        assert a.peer_id in c.connected_peer_ids()
        assert c.relay is not None
        await c.relay.wait_for_mesh(SHARD0)

        r = await client.get(f"{c.rest_url}/admin/v1/peers")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        [peer] = [p for p in r.json() if p["multiaddr"].endswith(f"/p2p/{a.peer_id}")]
        assert peer["connected"] == "Connected"
        assert peer["shards"] == [0]
        assert "/vac/waku/relay/2.0.0" in peer["protocols"]
        assert set(peer) >= {"multiaddr", "protocols", "shards", "connected", "agent", "origin"}

        nobody = ID.from_pubkey(create_new_key_pair().public_key)
        unreachable = f"/ip4/127.0.0.1/tcp/{closed_port()}/p2p/{nobody}"
        r = await client.post(f"{c.rest_url}/admin/v1/peers", json=[unreachable])
        assert r.status_code == 400
        assert r.text.startswith(f"Failed to connect to peer at index: 0 - {unreachable}")
        assert c.statistics()['rest']["refusals"] == {"POST /admin/v1/peers": {"connect_failed": 1}}


# -- refusals ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bad:
    endpoint: str  # the metric label: method and route in nwaku's notation
    path: str
    status: int
    text: str  # the start of the plain-text answer
    reason: str
    request: dict[str, Any]


def bad(endpoint: str, status: int, text: str, reason: str, path: str = "", **request: Any) -> Bad:
    return Bad(endpoint, path or endpoint.split(" ", 1)[1], status, text, reason, request)


SUBS = "POST /relay/v1/subscriptions"
AUTO_SUBS = "POST /relay/v1/auto/subscriptions"
MSG = "POST /relay/v1/messages/{pubsubTopic}"
AUTO_MSG = "POST /relay/v1/auto/messages"
PEERS = "POST /admin/v1/peers"
AT_SHARD0 = messages_path(SHARD0)
SHARD5 = "/waku/2/rs/1/5"
AT_SHARD5 = messages_path(SHARD5)
JSON = {"content-type": "application/json"}
B64 = base64.b64encode(b"x").decode()
CT = CONTENT_TOPIC
MINIMAL = {"payload": B64, "contentTopic": CT}  # no timestamp: stamped when received
UNDECODABLE = "Invalid content body, could not decode"
NOT_SUBSCRIBED = "Node not subscribed to topic: "
UNKNOWN = "Bad request initiated. Invalid path or method used."
TWICE = f'{{"payload":"{B64}","payload":"{B64}","contentTopic":"{CT}"}}'.encode()
BAD_REQUESTS = {
    "bad json": bad(SUBS, 400, UNDECODABLE, "bad_json", content=b'["/waku/2/rs/1/0"'),
    "empty body": bad(SUBS, 400, "Missing content body", "missing_body", content=b""),
    "form content type": bad(SUBS, 400, "Wrong Content-Type", "wrong_content_type", content=b"[]",
                             headers={"content-type": "application/x-www-form-urlencoded"}),
    "not a list": bad(SUBS, 400, UNDECODABLE, "bad_json", json={"topic": SHARD0}),
    "malformed pubsub topic": bad(SUBS, 400, 'Invalid pubsub topic(s): ["/waku/2/rs/1/x"]',
                                  "invalid_pubsub_topic", json=[SHARD0, "/waku/2/rs/1/x"]),
    "named pubsub topic": bad("DELETE /relay/v1/subscriptions", 400, "Invalid pubsub topic(s)",
                              "invalid_pubsub_topic", json=["/waku/2/default-waku/proto"]),
    "invalid content topic to subscribe": bad(AUTO_SUBS, 400, 'Invalid content topic(s): ["chat"]',
                                              "invalid_content_topic", json=["chat"]),
    "bad base64 payload": bad(MSG, 400, "Field `payload` is not valid base64", "bad_base64", AT_SHARD0,
                              json={"payload": "@@@", "contentTopic": CT}),
    "bad base64 meta": bad(MSG, 400, "Field `meta` is not valid base64", "bad_base64", AT_SHARD0,
                           json={"payload": B64, "contentTopic": CT, "meta": "a"}),
    "missing payload": bad(MSG, 400, f"{UNDECODABLE}: Field `payload` is missing or empty",
                           "missing_field", AT_SHARD0, json={"contentTopic": CT}),
    "empty payload": bad(MSG, 400, f"{UNDECODABLE}: Field `payload`", "missing_field", AT_SHARD0,
                         json={"payload": " ", "contentTopic": CT}),
    "missing content topic": bad(MSG, 400, f"{UNDECODABLE}: Field `contentTopic` is missing",
                                 "missing_field", AT_SHARD0, json={"payload": B64}),
    "invalid content topic": bad(MSG, 400, "Invalid content topic", "invalid_content_topic", AT_SHARD0,
                                 json={"payload": B64, "contentTopic": "/a/b"}),
    "repeated field": bad(MSG, 400, f"{UNDECODABLE}: Multiple `payload`", "bad_json", AT_SHARD0,
                          content=TWICE, headers=JSON),
    "version not a number": bad(MSG, 400, f"{UNDECODABLE}: Field `version`", "bad_field", AT_SHARD0,
                                json={"payload": B64, "contentTopic": CT, "version": "1"}),
    "negative timestamp": bad(MSG, 400, f"{UNDECODABLE}: Field `timestamp`", "bad_field", AT_SHARD0,
                              json={"payload": B64, "contentTopic": CT, "timestamp": -1}),
    "publish to unsubscribed topic": bad(MSG, 400, f"Failed to publish: {NOT_SUBSCRIBED}{SHARD5}",
                                         "not_subscribed", AT_SHARD5, json=MINIMAL),
    "publish without peers": bad(MSG, 400, "Failed to publish: no peers", "publish_failed", AT_SHARD0,
                                 json=MINIMAL),
    "auto publish invalid content topic": bad(AUTO_MSG, 400, "Invalid content topic", "invalid_content_topic",
                                              json={"payload": B64, "contentTopic": "nope"}),
    "poll unsubscribed topic": bad("GET /relay/v1/messages/{pubsubTopic}", 404, "Not subscribed",
                                   "not_subscribed", AT_SHARD5),
    "poll unsubscribed content topic": bad("GET /relay/v1/auto/messages/{contentTopic}", 404,
                                           "Not subscribed", "not_subscribed", auto_messages_path(CT)),
    "peer not a multiaddr": bad(PEERS, 400, "Couldn't parse remote peer info", "bad_multiaddr",
                                json=["localhost:60000"]),
    "peer without id": bad(PEERS, 400, "Couldn't parse remote peer info", "bad_multiaddr",
                           json=["/ip4/127.0.0.1/tcp/60000"]),
    "unknown path": bad("GET unmatched", 400, UNKNOWN, "unknown_route", "/relay/v2/everything"),
    "wrong method": bad("PUT unmatched", 400, UNKNOWN, "unknown_route", "/relay/v1/subscriptions", json=[]),
    "body too large": bad(AUTO_MSG, 413, "", "body_too_large", content=b"[" + b" " * 2_000_000 + b"]",
                          headers=JSON),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS.values()), ids=list(BAD_REQUESTS))
async def test_refused_request_answers_plain_text_and_is_counted(
    node: Node, client: httpx.AsyncClient, case: Bad
) -> None:
    method = case.endpoint.split(" ", 1)[0]
    r = await client.request(method, f"{node.rest_url}{case.path}", **case.request)
    assert r.status_code == case.status, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith(case.text), r.text
    stats = node.statistics()['rest']
    assert stats is not None
    assert stats["refusals"] == {case.endpoint: {case.reason: 1}}


# -- lifecycle ---------------------------------------------------------------------------------------
async def test_port_in_use_is_a_config_error(node: Node) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = RestServer(node, RestConfig(port=port))
        async with trio.open_nursery() as nursery:
            with pytest.raises(ConfigError, match=rf"^REST API: cannot listen on 127\.0\.0\.1:{port}: "):
                await nursery.start(server.run)


async def test_port_is_released_when_the_node_stops(tmp_path: Path, client: httpx.AsyncClient) -> None:
    async with open_node(node_config(tmp_path, "a")) as n:
        url = n.rest_url
        assert (await client.get(f"{url}/health")).status_code == 200
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    with pytest.raises(httpx.ConnectError):
        await client.get(f"{url}/health")


# -- the pure parts -----------------------------------------------------------------------------------
def test_relay_message_round_trips_through_json() -> None:
    msg = WakuMessage(
        b"\x00\xff",
        CONTENT_TOPIC,
        version=1,
        timestamp=123,
        meta=b"m",
        rate_limit_proof=b"p",
        ephemeral=False,
    )
    assert parse_relay_message(relay_message_json(msg), now_ns=999) == msg


def test_relay_message_defaults() -> None:
    msg = parse_relay_message({"payload": B64, "contentTopic": CONTENT_TOPIC, "timestamp": 0}, now_ns=42)
    assert msg == WakuMessage(b"x", CONTENT_TOPIC, timestamp=42)
    assert relay_message_json(msg) == {
        "payload": B64,
        "contentTopic": CONTENT_TOPIC,
        "version": 0,
        "timestamp": 42,
        "ephemeral": False,
        "proof": "",
    }


def test_oversized_meta_is_refused() -> None:
    body = {"payload": B64, "contentTopic": CONTENT_TOPIC, "meta": base64.b64encode(bytes(65)).decode()}
    with pytest.raises(Refused, match="at most 64") as info:
        parse_relay_message(body, now_ns=1)
    assert (info.value.status_code, info.value.reason) == (400, "bad_field")


def test_topic_cache_evicts_oldest_per_topic() -> None:
    cache = TopicCache(2)
    cache.add("t", WakuMessage(b"ignored", CONTENT_TOPIC))  # not watched
    cache.watch("t")
    cache.watch("u")
    for i in range(3):
        cache.add("t", WakuMessage(bytes([i]), CONTENT_TOPIC))
    cache.add("u", WakuMessage(b"u", CONTENT_TOPIC))
    assert [m.payload for m in cache.take("t") or []] == [b"\x01", b"\x02"]
    assert cache.evictions == 1 and cache.take("t") == [] and len(cache) == 1
    cache.unwatch("t")
    assert cache.take("t") is None
