"""`w3msg-node run` as a process: start line, status lines, signals, restart and redial."""

from __future__ import annotations

import json
import re
import signal
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import CONTENT_TOPIC, SHARD_TOPIC, Procs, cli, wait_until

pytestmark = pytest.mark.system

STATUS = re.compile(r"^status: connected peers (\d+); topics (.+); messages relayed (\d+), received (\d+), "
                    r"published (\d+), dropped (\d+)$")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_start_line_status_lines_and_clean_stop(procs: Procs, sig: int):
    node = procs.node("--shard", "0", "--shard", "3", name="n")
    assert set(node.info) == {"peer_id", "multiaddrs", "rest", "metrics"}
    assert node.info["metrics"] is None  # metrics are off unless asked for
    assert node.multiaddr.startswith("/ip4/127.0.0.1/tcp/")
    assert all(addr.endswith(f"/p2p/{node.peer_id}") for addr in node.info["multiaddrs"])
    rest = urlsplit(node.rest)
    assert (rest.scheme, rest.hostname) == ("http", "127.0.0.1") and rest.port not in (None, 0, 8645)
    assert httpx.get(f"{node.rest}/health").json()["nodeHealth"] == "READY"
    info = httpx.get(f"{node.rest}/debug/v1/info").json()
    assert info["listenAddresses"] == node.info["multiaddrs"]

    status = STATUS.match(node.next_line(timeout=5))
    assert status is not None, node.stdout[-1]
    assert status.group(1) == "0"
    assert "/waku/2/rs/1/0 (mesh 0, peers 0)" in status.group(2)
    assert "/waku/2/rs/1/3 (mesh 0, peers 0)" in status.group(2)

    assert node.stop(sig) == 0
    assert "Traceback" not in node.stderr()
    assert "stopping" in node.stderr()  # the log went to stderr, not stdout
    assert all(line.startswith("status: ") for line in node.stdout[1:])


def test_status_counts_peers_and_relayed_messages(procs: Procs):
    a = procs.node("--shard", "0", name="a")
    b = procs.node("--shard", "0", "--peer", a.multiaddr, name="b")
    c = procs.node("--shard", "0", "--peer", b.multiaddr, name="c")
    wait_until(lambda: b.relay_peers(0) == {a.peer_id, c.peer_id}, what="B relaying with A and C")
    wait_until(lambda: c.relay_peers(0) == {b.peer_id}, what="C relaying with B")
    published = cli("publish", "--node", a.rest, "--pubsub-topic", SHARD_TOPIC, "--content-topic",
                    CONTENT_TOPIC, "--payload", "count me")
    assert published.returncode == 0, published.stderr

    def b_forwarded() -> bool:
        status = STATUS.match(b.next_line(timeout=5))
        assert status is not None, b.stdout[-1]
        return status.group(1) == "2" and int(status.group(3)) >= 1 and int(status.group(4)) >= 1

    wait_until(b_forwarded, what="B's status line to show 2 peers and the relayed message")


def test_metrics_endpoint_when_asked_for(procs: Procs):
    node = procs.node("--metrics-port", "0", name="m")
    assert node.info["metrics"] is not None
    response = httpx.get(f"{node.info['metrics']}/metrics")
    assert response.status_code == 200


def test_no_rest_gives_a_null_rest_url(procs: Procs):
    node = procs.node(name="quiet", rest=False)
    assert node.info["rest"] is None


def test_a_restarted_node_keeps_its_id_and_is_redialled(procs: Procs, tmp_path):
    data_dir = tmp_path / "a-data"
    a = procs.node("--shard", "0", name="a", data_dir=data_dir)
    b = procs.node("--shard", "0", "--peer", a.multiaddr, name="b")
    wait_until(lambda: a.relay_peers(0) == {b.peer_id}, what="B to connect to A")
    port = a.multiaddr.split("/")[4]

    assert a.stop() == 0
    wait_until(lambda: not b.relay_peers(0), what="B to notice A is gone")
    again = procs.node("--shard", "0", name="a-again", data_dir=data_dir, listen=f"/ip4/127.0.0.1/tcp/{port}")
    assert again.peer_id == a.peer_id
    assert again.multiaddr == a.multiaddr

    # Nobody told the new A about B: B's --peer redials it.
    wait_until(lambda: again.relay_peers(0) == {b.peer_id}, timeout=20, what="B to redial A")
    wait_until(lambda: b.relay_peers(0) == {a.peer_id}, what="B to see A relaying again")
    sub = procs.spawn("subscribe", "--node", b.rest, "--pubsub-topic", SHARD_TOPIC, "--count", "1",
                      "--timeout", "15", "--poll-interval", "0.05", name="subscribe")
    wait_until(lambda: "subscribed to" in sub.stderr() or sub.popen.poll() is not None, what="subscription")
    published = cli("publish", "--node", again.rest, "--pubsub-topic", SHARD_TOPIC, "--content-topic",
                    CONTENT_TOPIC, "--payload", "after the restart")
    assert published.returncode == 0, published.stderr
    assert json.loads(sub.next_line())["hash"] == published.stdout.strip()
    assert sub.popen.wait(timeout=10) == 0
