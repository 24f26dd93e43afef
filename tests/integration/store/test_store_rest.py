"""GET /store/v3/messages over HTTP against real nodes: our own archive, and a remote store
through peerAddr (or a connected store peer)."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.integration.conftest import TOPIC, local_config
from w3msg_libp2p.api.parsing import Refused
from w3msg_libp2p.api.store_routes import parse_hash, parse_store_params
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.core.ratelimit import RateLimit
from w3msg_libp2p.node.config import RestConfig
from w3msg_libp2p.node.node import Node, open_node
from w3msg_libp2p.node.service_config import StoreConfig

CHAT = "/resttest/1/chat/proto"
PATH = "/store/v3/messages"


def with_store_routes(node: Node) -> Node:
    """The REST server mounts the store route on every node."""
    assert node.rest is not None
    assert any(rule.rule == PATH for rule in node.rest.app.url_map.iter_rules())
    return node


@asynccontextmanager
async def nodes(tmp_path: Path, **store: Any) -> AsyncIterator[tuple[Node, Node]]:
    """A: relay + store + REST. B: relay + REST, no store, connected to A."""
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_node(local_config(
            tmp_path, "a", store=StoreConfig(**store), rest=RestConfig(port=0))))
        b = await stack.enter_async_context(open_node(local_config(tmp_path, "b", rest=RestConfig(port=0))))
        await b.connect(a.listen_addrs()[0])
        assert a.relay is not None and b.relay is not None
        await a.relay.wait_for_mesh(TOPIC)
        await b.relay.wait_for_mesh(TOPIC)
        yield with_store_routes(a), with_store_routes(b)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


async def publish(node: Node, count: int, start: int) -> list[tuple[bytes, WakuMessage]]:
    assert node.relay is not None
    out = []
    for i in range(count):
        msg = WakuMessage(b"rest%d" % i, CHAT, timestamp=start + i * 1000, meta=b"m" if i == 0 else None)
        out.append((await node.relay.publish(TOPIC, msg), msg))
    return out


async def stored(node: Node, count: int) -> None:
    with trio.fail_after(20):
        while node.store.statistics()["stored"] < count:
            await trio.sleep(0.01)
    await node.store.wait_idle()


async def get(http: httpx.AsyncClient, node: Node, **params: Any) -> httpx.Response:
    return await http.get(f"{node.rest_url}{PATH}", params=params)


def hexhash(digest: bytes) -> str:
    return "0x" + digest.hex()


async def test_own_archive_pages_as_nwaku_serves_them(tmp_path: Path, http: httpx.AsyncClient) -> None:
    async with nodes(tmp_path) as (a, b):
        start = time.time_ns()
        sent = await publish(b, 12, start)
        await stored(a, 12)
        params: dict[str, Any] = {"pubsubTopic": TOPIC, "contentTopics": CHAT, "includeData": "true",
                                  "pageSize": 5, "ascending": "true"}
        first = await get(http, a, **params)
        assert first.status_code == 200 and first.headers["content-type"] == "application/json"
        body = first.json()
        assert list(body) == ["requestId", "statusCode", "statusDesc", "messages", "paginationCursor"]
        assert (body["statusCode"], body["statusDesc"]) == (200, "OK") and body["requestId"]
        digest, msg = sent[0]
        assert body["messages"][0] == {
            "messageHash": hexhash(digest),
            "message": {"payload": base64.b64encode(msg.payload).decode(), "contentTopic": CHAT,
                        "meta": base64.b64encode(b"m").decode(), "version": 0, "timestamp": msg.timestamp,
                        "ephemeral": False},
            "pubsubTopic": TOPIC,
        }
        hashes, cursor = [m["messageHash"] for m in body["messages"]], body["paginationCursor"]
        while cursor is not None:
            page = (await get(http, a, **params, cursor=cursor)).json()
            hashes += [m["messageHash"] for m in page["messages"]]
            cursor = page.get("paginationCursor")
        assert hashes == [hexhash(h) for h, _ in sent]
        backward = (await get(http, a, **{**params, "ascending": "false"})).json()
        assert [m["messageHash"] for m in backward["messages"]] == [hexhash(h) for h, _ in sent[-5:]]
        assert backward["paginationCursor"] == hexhash(sent[-5][0])
        window = (await get(http, a, pubsubTopic=TOPIC, contentTopics=f"{CHAT},/x/1/y/z",
                            startTime=start + 2000, endTime=start + 4000)).json()
        assert [m["messageHash"] for m in window["messages"]] == [hexhash(h) for h, _ in sent[2:5]]
        assert "paginationCursor" not in window


async def test_hashes_only_and_hash_lookups(tmp_path: Path, http: httpx.AsyncClient) -> None:
    async with nodes(tmp_path) as (a, b):
        sent = await publish(b, 4, time.time_ns())
        await stored(a, 4)
        plain = (await get(http, a, pubsubTopic=TOPIC)).json()  # includeData defaults to false
        assert plain["messages"] == [{"messageHash": hexhash(h)} for h, _ in sent]
        as_hex = sent[2][0].hex()  # without 0x
        as_b64url = base64.urlsafe_b64encode(sent[0][0]).decode().rstrip("=")
        found = (await get(http, a, hashes=f"{as_hex},{as_b64url}", includeData="1")).json()
        assert [m["messageHash"] for m in found["messages"]] == [hexhash(sent[0][0]), hexhash(sent[2][0])]
        assert found["messages"][1]["message"]["payload"] == base64.b64encode(b"rest2").decode()


@pytest.mark.parametrize(("params", "text"), [
    ({"includeData": "maybe"}, "include data parsing error"),
    ({"startTime": "yesterday"}, "time parsing error"),
    ({"pageSize": "lots"}, "page size parsing error"),
    ({"pageSize": "-1"}, "page size parsing error"),
    ({"hashes": "zz"}, "Exception converting hex string to bytes"),
    ({"cursor": "0x1234"}, "invalid hash length: 2"),
    ({"peerAddr": "not-an-address"}, "Failed parsing remote peer info"),
    ({"contentTopics": CHAT}, "BAD_REQUEST: content_topics given without pubsub_topic"),
    ({"cursor": "0x" + "ab" * 32}, "BAD_REQUEST: cursor not found"),
])
async def test_bad_parameters_are_400_with_a_message(tmp_path: Path, http: httpx.AsyncClient,
                                                     params: dict[str, str], text: str) -> None:
    async with nodes(tmp_path) as (a, _):
        response = await get(http, a, **params)
        assert response.status_code == 400 and text in response.text
        assert response.headers["content-type"].startswith("text/plain")
        assert a.rest is not None
        assert sum(a.rest.statistics()["refusals"]["GET /store/v3/messages"].values()) == 1


async def test_remote_store_through_peer_addr_or_a_connected_store_peer(tmp_path: Path,
                                                                        http: httpx.AsyncClient) -> None:
    async with nodes(tmp_path) as (a, b):
        sent = await publish(b, 3, time.time_ns())
        await stored(a, 3)
        own = (await get(http, a, pubsubTopic=TOPIC, includeData="true")).json()
        via_addr = (await get(http, b, peerAddr=a.listen_addrs()[0], pubsubTopic=TOPIC, includeData="true")).json()
        assert via_addr["messages"] == own["messages"]
        assert [m["messageHash"] for m in via_addr["messages"]] == [hexhash(h) for h, _ in sent]
        # B stores nothing itself: without peerAddr it asks the store peer it is connected to
        chosen = (await get(http, b, pubsubTopic=TOPIC)).json()
        assert [m["messageHash"] for m in chosen["messages"]] == [hexhash(h) for h, _ in sent]
        # the remote store's refusals come back in the JSON, as nwaku's REST does
        refused = await get(http, b, peerAddr=a.listen_addrs()[0], contentTopics=CHAT)
        assert refused.status_code == 200
        assert refused.json()["statusCode"] == 400 and "without pubsub_topic" in refused.json()["statusDesc"]


async def test_remote_failures(tmp_path: Path, http: httpx.AsyncClient) -> None:
    async with nodes(tmp_path, rate_limit=RateLimit(2, 60.0)) as (a, b), \
            open_node(local_config(tmp_path, "lonely", rest=RestConfig(port=0))) as lonely:
        with_store_routes(lonely)
        addr = a.listen_addrs()[0]
        statuses = [(await get(http, b, peerAddr=addr)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert (await get(http, b, peerAddr=addr)).text == "Request rate limit reached"
        no_peer = await get(http, lonely)
        assert (no_peer.status_code, no_peer.text) == (412, "No suitable service peer & no discovery method")
        gone = f"/ip4/127.0.0.1/tcp/1/p2p/{a.peer_id}"
        unreachable = await get(http, lonely, peerAddr=gone)
        assert unreachable.status_code == 200
        assert unreachable.json() == {"requestId": "", "statusCode": 504, "statusDesc": f"PEER_DIAL_FAILURE: {gone}",
                                      "messages": []}


def test_parameter_defaults_are_nwakus() -> None:
    peer, query = parse_store_params({})
    assert peer is None and query.request_id
    assert (query.include_data, query.forward, query.limit) == (False, True, 20)
    assert (query.pubsub_topic, query.content_topics, query.message_hashes, query.cursor) == (None, (), (), None)
    _, query = parse_store_params({"pageSize": "1000", "ascending": "TRUE", "startTime": "0", "endTime": "-4",
                                   "contentTopics": "/a/1/b/c,,/a/1/d/e", "pubsubTopic": ""})
    assert (query.limit, query.forward, query.time_start, query.time_end) == (100, False, None, None)
    assert query.content_topics == ("/a/1/b/c", "/a/1/d/e") and query.pubsub_topic is None
    digest = bytes(range(32))
    assert parse_hash("0x" + digest.hex()) == parse_hash(digest.hex().upper()) == digest
    assert parse_hash(base64.b64encode(digest).decode()) == digest
    with pytest.raises(Refused, match="invalid hash length: 31"):
        parse_hash(digest[:31].hex())
