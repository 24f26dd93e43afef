"""/filter/v2/... over HTTP: our light node (relay off, REST on) as the filter client of a
relay + filter service node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import trio

from w3msg_libp2p.api.filter_routes import FilterRestApi
from w3msg_libp2p.node.config import RestConfig
from w3msg_libp2p.node.node import Node, open_node
from w3msg_libp2p.node.service_config import FilterConfig

from ..conftest import local_config
from .conftest import CT, CT2, PS, Net, filter_net, msg

JSON = {"Content-Type": "application/json"}


@asynccontextmanager
async def rest_light(net: Net, **config: Any) -> AsyncIterator[tuple[Node, httpx.AsyncClient]]:
    cfg = local_config(net.tmp_path, "rest-light", relay=None, rest=RestConfig(port=0), **config)
    async with open_node(cfg) as node, httpx.AsyncClient(base_url=node.rest_url or "", timeout=20) as http:
        assert node.rest is not None
        yield node, http


def api_of(node: Node) -> FilterRestApi:
    assert node.rest is not None
    api: FilterRestApi = node.rest.app.extensions["w3msg_filter_api"]
    return api


def sub_body(request_id: str, *topics: str, **extra: Any) -> dict[str, Any]:
    return {"requestId": request_id, "contentFilters": list(topics), **extra}


async def poll_messages(http: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    with trio.fail_after(10):
        while True:
            response = await http.get(path)
            assert response.status_code == 200, response.text
            if messages := response.json():
                return list(messages)
            await trio.sleep(0.05)


async def test_subscribe_poll_ping_unsubscribe(tmp_path: Path) -> None:
    async with filter_net(tmp_path) as net, rest_light(net) as (light, http):
        body = sub_body("1", CT, CT2, pubsubTopic=PS, peerAddr=net.service_addr)
        response = await http.post("/filter/v2/subscriptions", json=body)
        assert (response.status_code, response.json()) == (200, {"requestId": "1", "statusDesc": "OK"})
        assert response.headers["content-type"] == "application/json"
        assert net.service.filter.server.table.criteria(light.peer_id) == {(PS, CT), (PS, CT2)}

        response = await http.get("/filter/v2/subscriptions/ping-1")
        assert (response.status_code, response.json()) == (200, {"requestId": "ping-1", "statusDesc": "OK"})

        await net.publish(msg(CT, b"via filter"))
        by_content = await poll_messages(http, f"/filter/v2/messages/{quote(CT, safe='')}")
        assert [(m["payload"], m["contentTopic"]) for m in by_content] == [("dmlhIGZpbHRlcg==", CT)]
        assert set(by_content[0]) == {"payload", "contentTopic", "version", "timestamp", "ephemeral"}
        # go-waku's route, topics URL-encoded in two path segments
        by_pair = await poll_messages(http, f"/filter/v2/messages/{quote(PS, safe='')}/{quote(CT, safe='')}")
        assert by_pair == by_content
        assert (await http.get(f"/filter/v2/messages/{quote(CT, safe='')}")).json() == []  # taken
        assert (await http.get(f"/filter/v2/messages/{PS}/{CT}")).json() == []  # unencoded topics work too

        response = await http.request("DELETE", "/filter/v2/subscriptions",
                                      json=sub_body("2", CT, CT2, pubsubTopic=PS))
        assert (response.status_code, response.json()) == (200, {"requestId": "2", "statusDesc": "OK"})
        response = await http.get(f"/filter/v2/messages/{quote(CT, safe='')}")
        assert (response.status_code, response.text) == (400, f"Not subscribed to topic: {CT}")
        response = await http.get(f"/filter/v2/messages/{quote(PS, safe='')}/{quote(CT, safe='')}")
        assert response.status_code == 404

        # the service dropped the emptied subscription, so the rest is NOT_FOUND (through nwaku's words)
        response = await http.get("/filter/v2/subscriptions/ping-2", params={})
        assert response.status_code == 404
        assert response.json() == {"requestId": "ping-2", "statusDesc": "NOT_FOUND: peer has no subscriptions"}
        response = await http.request("DELETE", "/filter/v2/subscriptions/all", json={"requestId": "3"},
                                      headers=JSON)
        assert response.status_code == 404 and response.json()["requestId"] == "3"


async def test_configured_service_peer_autosharding_put_and_unsubscribe_all(tmp_path: Path) -> None:
    async with filter_net(tmp_path) as net, rest_light(net, service_peers=(net.service_addr,)) as (light, http):
        response = await http.put("/filter/v2/subscriptions", json=sub_body("a", CT, pubsubTopic=""))
        assert (response.status_code, response.json()) == (200, {"requestId": "a", "statusDesc": "OK"})
        assert net.service.filter.server.table.criteria(light.peer_id) == {(PS, CT)}  # CT's autoshard
        await net.publish(msg(CT))
        assert len(await poll_messages(http, f"/filter/v2/messages/{quote(CT, safe='')}")) == 1
        response = await http.request("DELETE", "/filter/v2/subscriptions/all", json={"requestId": "b"})
        assert (response.status_code, response.json()) == (200, {"requestId": "b", "statusDesc": "OK"})
        assert light.peer_id not in net.service.filter.server.table
        assert (await http.get(f"/filter/v2/messages/{quote(CT, safe='')}")).status_code == 400


async def test_service_refusals_pass_through_and_bad_bodies_are_400(tmp_path: Path) -> None:
    async with filter_net(tmp_path) as net, rest_light(net) as (light, http):
        # no peerAddr, no configured service peer, no connected filter peer
        response = await http.post("/filter/v2/subscriptions", json=sub_body("1", CT, pubsubTopic=PS))
        assert response.status_code == 503
        assert response.json() == {"requestId": "1",
                                   "statusDesc": "SERVICE_UNAVAILABLE: No suitable service peer & no discovery method"}
        await light.connect(net.service_addr)
        with trio.fail_after(10):  # identify tells us what it serves; then it is picked by itself
            while api_of(light).select_peer(None) is None:
                await trio.sleep(0.05)
        too_many = [f"/filtertest/1/t{i}/proto" for i in range(101)]
        response = await http.post("/filter/v2/subscriptions", json=sub_body("2", *too_many, pubsubTopic=PS))
        assert (response.status_code, response.json()) == (
            400, {"requestId": "2", "statusDesc": "BAD_REQUEST: exceeds maximum content topics: 100"})
        for bad in (b"", b"{", b'{"contentFilters": ["/a/1/b/c"]}', b'{"requestId": "x", "contentFilters": []}'):
            response = await http.post("/filter/v2/subscriptions", content=bad, headers=JSON)
            assert response.status_code == 400
            assert response.json()["requestId"] == "unknown"
            assert response.json()["statusDesc"].startswith("BAD_REQUEST: Failed to decode request: ")
        response = await http.post("/filter/v2/subscriptions", json=sub_body("3", "not-a-topic"))
        assert response.status_code == 400  # autosharding needs well-formed content topics
        assert (await http.get("/filter/v2/messages/not-a-topic")).status_code == 400
        assert light.rest is not None
        refusals = light.rest.statistics()["refusals"]
        assert refusals["POST /filter/v2/subscriptions"] == {
            "no_service_peer": 1, "status_400": 1, "missing_body": 1, "bad_json": 1, "missing_field": 2,
            "invalid_topic": 1}


async def test_unreachable_service_peer_is_504(tmp_path: Path) -> None:
    async with filter_net(tmp_path) as net:
        async with open_node(local_config(tmp_path, "gone", relay=None)) as gone:
            gone_addr = gone.listen_addrs()[0]
        async with rest_light(net) as (_, http):
            body = sub_body("1", CT, pubsubTopic=PS, peerAddr=gone_addr)
            response = await http.post("/filter/v2/subscriptions", json=body)
            assert response.status_code == 504
            assert response.json()["statusDesc"].startswith("PEER_DIAL_FAILURE: ")


async def test_rest_client_keeps_its_subscription_alive(tmp_path: Path) -> None:
    async with filter_net(tmp_path, FilterConfig(subscription_timeout=1.0)) as net, \
            rest_light(net) as (light, http):
        api = api_of(light)
        api.client.ping_interval = 0.25
        body = sub_body("1", CT, pubsubTopic=PS, peerAddr=net.service_addr)
        assert (await http.post("/filter/v2/subscriptions", json=body)).status_code == 200
        await trio.sleep(2.0)  # twice the service's timeout: only the client's pings keep it
        assert light.peer_id in net.service.filter.server.table
        assert api.client.stats["requests_subscriber_ping"] >= 4
