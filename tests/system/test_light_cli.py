"""`w3msg-node run --light --service-peer`: a node without relay that publishes by lightpush and
receives by filter through a full node, driven by the same `publish` and `subscribe` commands."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import CONTENT_TOPIC, cli, managed_procs, wait_until

pytestmark = pytest.mark.system


def test_light_node_publishes_and_receives_through_its_service_peer(tmp_path):
    with managed_procs(tmp_path) as procs:
        full = procs.node("--shard", "0", "--content-topic", CONTENT_TOPIC, name="full")
        relay_peer = procs.node("--shard", "0", "--content-topic", CONTENT_TOPIC, "--peer", full.multiaddr,
                                name="relay-peer")
        wait_until(lambda: full.relay_peers(6) == {relay_peer.peer_id}, what="full node relaying")
        light = procs.node("--light", "--service-peer", full.multiaddr, name="light")
        health = httpx.get(light.rest + "/health").json()
        assert {"Relay": "NOT_MOUNTED"} in health["protocolsHealth"]

        sub = procs.spawn("subscribe", "--node", light.rest, "--content-topic", CONTENT_TOPIC,
                          "--poll-interval", "0.05", "--count", "1", "--timeout", "20", name="subscribe")
        wait_until(lambda: "subscribed to" in sub.stderr() or sub.popen.poll() is not None, what="subscription")
        published = cli("publish", "--node", light.rest, "--content-topic", CONTENT_TOPIC, "--payload", "light")
        assert published.returncode == 0, published.stderr
        digest = published.stdout.strip()
        # the lightpushed message went out on the full node's relay and came back by filter
        assert json.loads(sub.next_line())["hash"] == digest
        assert sub.popen.wait(timeout=10) == 0
        by_pubsub = cli("subscribe", "--node", light.rest, "--pubsub-topic", "/waku/2/rs/1/0", "--count", "1",
                        "--timeout", "1")
        assert by_pubsub.returncode == 2 and "by content topic" in by_pubsub.stderr
