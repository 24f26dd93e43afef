"""`w3msg-node publish`, `subscribe`, `id` and `keygen` against nodes running as processes."""

from __future__ import annotations

import base64
import json
import re
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from w3msg_libp2p.core.message import WakuMessage, message_hash

from .conftest import (
    AUTO_TOPIC,
    CONTENT_TOPIC,
    SHARD_TOPIC,
    NodeProc,
    Procs,
    cli,
    managed_procs,
    wait_until,
)

pytestmark = pytest.mark.system

HASH = re.compile(r"^0x[0-9a-f]{64}$")
# Published with an explicit pubsub topic (shard 0). A content topic other than CONTENT_TOPIC: a
# node's per-content-topic cache takes a content topic's messages from any shard.
STATIC_CONTENT_TOPIC = "/w3msg-test/1/static/proto"


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProc, NodeProc, NodeProc, Procs]]:
    """Three nodes in a line, A - B - C (B dials A, C dials B), relaying shard 0 and the shard of
    CONTENT_TOPIC: whatever C receives from A went through B."""
    with managed_procs(tmp_path_factory.mktemp("line")) as procs:
        shards = ("--shard", "0", "--content-topic", CONTENT_TOPIC)
        a = procs.node(*shards, name="a")
        b = procs.node(*shards, "--peer", a.multiaddr, name="b")
        c = procs.node(*shards, "--peer", b.multiaddr, name="c")
        for shard in (0, 6):
            wait_until(lambda s=shard: b.relay_peers(s) == {a.peer_id, c.peer_id}, what="B relaying")
            wait_until(lambda s=shard: a.relay_peers(s) == {b.peer_id}, what="A relaying with B")
            wait_until(lambda s=shard: c.relay_peers(s) == {b.peer_id}, what="C relaying with B")
        yield a, b, c, procs


def drain(node: NodeProc) -> None:
    """Empty the node's REST caches of our topics, so a subscriber sees only this test's messages."""
    for path in (f"/relay/v1/messages/{quote(SHARD_TOPIC, safe='')}",
                 f"/relay/v1/auto/messages/{quote(CONTENT_TOPIC, safe='')}",
                 f"/relay/v1/auto/messages/{quote(STATIC_CONTENT_TOPIC, safe='')}"):
        response = httpx.get(node.rest + path)
        assert response.status_code in (200, 404), response.text  # 404: not cached (yet)


def start_subscriber(procs: Procs, node: NodeProc, *args: str):
    drain(node)
    timeout = () if "--count" not in args else ("--timeout", "20")
    sub = procs.spawn("subscribe", "--node", node.rest, "--poll-interval", "0.05", *timeout, *args,
                      name="subscribe")
    wait_until(lambda: "subscribed to" in sub.stderr() or sub.popen.poll() is not None, what="subscription")
    return sub


def expected_hash(pubsub_topic: str, line: dict) -> str:
    message = WakuMessage(payload=base64.b64decode(line["payload"]), content_topic=line["content_topic"],
                          timestamp=line["timestamp"])
    return "0x" + message_hash(pubsub_topic, message).hex()


def test_publish_at_one_end_of_the_line_reaches_a_subscriber_at_the_other(line):
    a, _, c, procs = line
    sub = start_subscriber(procs, c, "--pubsub-topic", SHARD_TOPIC, "--count", "1")
    published = cli("publish", "--node", a.rest, "--pubsub-topic", SHARD_TOPIC, "--content-topic",
                    STATIC_CONTENT_TOPIC, "--payload", "hello over two hops")
    assert published.returncode == 0, published.stderr
    digest = published.stdout.strip()
    assert HASH.match(digest)

    received = json.loads(sub.next_line())
    assert received["hash"] == digest
    assert received == {"hash": digest, "pubsub_topic": SHARD_TOPIC, "content_topic": STATIC_CONTENT_TOPIC,
                        "payload": base64.b64encode(b"hello over two hops").decode(),
                        "timestamp": received["timestamp"]}
    assert received["timestamp"] > 0
    assert expected_hash(SHARD_TOPIC, received) == digest
    assert sub.popen.wait(timeout=10) == 0  # --count 1 reached


def test_autosharded_publish_and_subscribe_by_content_topic(line, tmp_path):
    a, _, c, procs = line
    sub = start_subscriber(procs, c, "--content-topic", CONTENT_TOPIC, "--count", "2")
    payload_file = tmp_path / "payload.bin"
    payload_file.write_bytes(bytes(range(256)))
    first = cli("publish", "--node", a.rest, "--content-topic", CONTENT_TOPIC,
                "--payload-file", str(payload_file))
    stamp = time.time_ns() - 5_000_000_000  # explicit, and within the relay's 20 s drift window
    second = cli("publish", "--node", a.rest, "--content-topic", CONTENT_TOPIC, "--payload-base64", "AAEC",
                 "--timestamp", str(stamp), "--ephemeral")
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)

    lines = [json.loads(sub.next_line()), json.loads(sub.next_line())]
    by_hash = {line["hash"]: line for line in lines}
    assert set(by_hash) == {first.stdout.strip(), second.stdout.strip()}
    assert base64.b64decode(by_hash[first.stdout.strip()]["payload"]) == bytes(range(256))
    assert by_hash[second.stdout.strip()]["timestamp"] == stamp
    for received in lines:
        assert received["pubsub_topic"] == AUTO_TOPIC
        assert expected_hash(AUTO_TOPIC, received) == received["hash"]
    assert sub.popen.wait(timeout=10) == 0


def test_payload_from_stdin(line):
    a, _, c, procs = line
    sub = start_subscriber(procs, c, "--pubsub-topic", SHARD_TOPIC, "--count", "1")
    published = cli("publish", "--node", a.rest, "--pubsub-topic", SHARD_TOPIC, "--content-topic",
                    STATIC_CONTENT_TOPIC, "--payload-file", "-", input=b"from stdin\x00\xff")
    assert published.returncode == 0, published.stderr
    received = json.loads(sub.next_line())
    assert received["hash"] == published.stdout.strip()
    assert base64.b64decode(received["payload"]) == b"from stdin\x00\xff"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_subscribe_without_count_runs_until_a_signal(line, sig):
    _, _, c, procs = line
    sub = start_subscriber(procs, c, "--pubsub-topic", SHARD_TOPIC)
    assert sub.popen.poll() is None
    assert sub.stop(sig) == 0
    assert "Traceback" not in sub.stderr()


def test_rest_publish_and_get_through_the_line(line):
    a, _, c, _ = line
    topic = quote(SHARD_TOPIC, safe="")
    assert httpx.post(f"{c.rest}/relay/v1/subscriptions", json=[SHARD_TOPIC]).status_code == 200
    httpx.get(f"{c.rest}/relay/v1/messages/{topic}").raise_for_status()  # drop what earlier tests left
    body = {"payload": base64.b64encode(b"rest hello").decode(), "contentTopic": CONTENT_TOPIC,
            "timestamp": time.time_ns()}
    response = httpx.post(f"{a.rest}/relay/v1/messages/{topic}", json=body)
    assert response.status_code == 200, response.text

    def arrived():
        response = httpx.get(f"{c.rest}/relay/v1/messages/{topic}")
        response.raise_for_status()
        return response.json()

    messages = wait_until(arrived, what="the message at C")
    assert len(messages) == 1
    assert messages[0]["payload"] == body["payload"]
    assert messages[0]["contentTopic"] == CONTENT_TOPIC
    assert messages[0]["timestamp"] == body["timestamp"]


def test_rest_autosharded_publish_and_get(line):
    a, _, c, _ = line
    ct = quote(CONTENT_TOPIC, safe="")
    assert httpx.post(f"{c.rest}/relay/v1/auto/subscriptions", json=[CONTENT_TOPIC]).status_code == 200
    httpx.get(f"{c.rest}/relay/v1/auto/messages/{ct}").raise_for_status()
    body = {"payload": base64.b64encode(b"auto hello").decode(), "contentTopic": CONTENT_TOPIC,
            "timestamp": time.time_ns()}
    assert httpx.post(f"{a.rest}/relay/v1/auto/messages", json=body).status_code == 200

    def arrived():
        response = httpx.get(f"{c.rest}/relay/v1/auto/messages/{ct}")
        response.raise_for_status()
        return response.json()

    messages = wait_until(arrived, what="the message at C")
    assert [(m["payload"], m["timestamp"]) for m in messages] == [(body["payload"], body["timestamp"])]


# -- id / keygen -------------------------------------------------------------------------------

def test_keygen_creates_a_private_key_and_id_reads_it(tmp_path: Path):
    key = tmp_path / "keys" / "node.key"
    created = cli("keygen", "--key-file", str(key))
    assert created.returncode == 0, created.stderr
    peer_id = created.stdout.strip()
    assert peer_id.startswith("16Uiu2")  # secp256k1 by default, as nwaku
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    for _ in range(2):
        shown = cli("id", "--key-file", str(key))
        assert (shown.returncode, shown.stdout.strip()) == (0, peer_id)


def test_keygen_refuses_to_overwrite_without_force(tmp_path: Path):
    key = tmp_path / "node.key"
    original = cli("keygen", "--key-file", str(key)).stdout.strip()
    before = key.read_bytes()
    refused = cli("keygen", "--key-file", str(key))
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"error: key file {key} already exists (use --force to replace it)"]
    assert key.read_bytes() == before
    assert cli("id", "--key-file", str(key)).stdout.strip() == original

    replaced = cli("keygen", "--key-file", str(key), "--force", "--key-type", "ed25519")
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stdout.strip().startswith("12D3KooW")
    assert replaced.stdout.strip() != original
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert cli("id", "--key-file", str(key)).stdout.strip() == replaced.stdout.strip()


def test_the_node_runs_with_the_generated_key_and_creates_one_when_missing(procs, tmp_path: Path):
    key = tmp_path / "given.key"
    generated = cli("keygen", "--key-file", str(key)).stdout.strip()
    with_key = procs.node("--key-file", str(key), name="keyed", rest=False)
    assert with_key.peer_id == generated

    fresh_dir = tmp_path / "fresh"
    fresh = procs.node(name="fresh", data_dir=fresh_dir, rest=False)
    assert stat.S_IMODE((fresh_dir / "node.key").stat().st_mode) == 0o600
    shown = cli("id", "--data-dir", str(fresh_dir))
    assert (shown.returncode, shown.stdout.strip()) == (0, fresh.peer_id)


def test_id_reads_the_key_named_by_a_config_file(tmp_path: Path):
    key = tmp_path / "elsewhere.key"
    generated = cli("keygen", "--key-file", str(key)).stdout.strip()
    config = tmp_path / "node.toml"
    config.write_text(f'key-file = "{key}"\n')
    shown = cli("id", "--config", str(config))
    assert (shown.returncode, shown.stdout.strip()) == (0, generated)


def test_version():
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("w3msg-node, version ")
