"""Bad input to the installed CLI: one `error: ...` line on stderr, exit 2 (usage or configuration)
or 1 (runtime), never a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import CONTENT_TOPIC, NodeProc, Procs, assert_one_line_error, cli

pytestmark = pytest.mark.system

PEER_ID = "16Uiu2HAmESW2DBTb2R91zFo9JS29oUvtLbeeyrFXH6fhxfqPwLBd"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other socket listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound once to pick it, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def node(procs: Procs) -> NodeProc:
    return procs.node("--shard", "0", name="n")


def run(tmp_path: Path, *args: str):
    return cli("run", "--data-dir", str(tmp_path / "data"), "--rest-port", "0", *args, timeout=20)


@pytest.mark.parametrize(("args", "fragment"), [
    (["--listen", "127.0.0.1:60000"], "listen address '127.0.0.1:60000' is not a multiaddr"),
    (["--listen", "/ip4/127.0.0.1/tcp/notaport"], "is malformed"),
    (["--peer", "/ip4/127.0.0.1/tcp/60000"], "has no /p2p/<peer-id> part"),
    (["--peer", "/ip4/127.0.0.1/tcp/60000/p2p/notapeerid"], "peer address"),
    (["--content-topic", "/toy/chat"], "content topic '/toy/chat'"),
    (["--shard", "2000"], "shard 2000 out of range"),
])
def test_run_rejects_bad_flags(tmp_path, args, fragment):
    assert_one_line_error(run(tmp_path, "--listen", "/ip4/127.0.0.1/tcp/0", *args), 2, fragment)
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_p2p_port_in_use(tmp_path, busy_port):
    result = run(tmp_path, "--listen", f"/ip4/127.0.0.1/tcp/{busy_port}")
    assert_one_line_error(result, 2, f"cannot listen on /ip4/127.0.0.1/tcp/{busy_port}", "in use")
    assert result.stdout == ""  # no start line for a node that did not start


def test_rest_port_in_use(tmp_path, busy_port):
    result = run(tmp_path, "--listen", "/ip4/127.0.0.1/tcp/0", "--rest-port", str(busy_port))
    assert_one_line_error(result, 2, "REST API", str(busy_port), "in use")
    assert result.stdout == ""


@pytest.mark.parametrize(("text", "fragments"), [
    ("listen = [\n", ["is not valid TOML"]),
    ('shards = [0]\nlisten-adress = "/ip4/127.0.0.1/tcp/0"\n', ["unknown setting 'listen-adress'"]),
    ("[metrics]\nprot = 8008\n", ["[metrics]", "unknown setting 'prot'"]),
    ('shards = "0"\n', ["shards must be a list"]),
    ("rest = 5\n", ["[rest] must be a table"]),
])
def test_run_rejects_bad_config_files(tmp_path, text, fragments):
    config = tmp_path / "node.toml"
    config.write_text(text)
    assert_one_line_error(run(tmp_path, "--config", str(config)), 2, str(config), *fragments)


def test_run_rejects_an_invalid_key_file(tmp_path):
    key = tmp_path / "node.key"
    key.write_bytes(b"\x08\x02\x12\x20abc")  # a secp256k1 PrivateKey cut short
    result = run(tmp_path, "--listen", "/ip4/127.0.0.1/tcp/0", "--key-file", str(key))
    assert_one_line_error(result, 2, f"key file {key}")
    assert_one_line_error(cli("id", "--key-file", str(key)), 2, f"key file {key}")


def test_publish_and_subscribe_to_an_unreachable_node(closed_port):
    url = f"http://127.0.0.1:{closed_port}"
    published = cli("publish", "--node", url, "--content-topic", CONTENT_TOPIC, "--payload", "x")
    assert_one_line_error(published, 1, f"cannot reach node at {url}")
    subscribed = cli("subscribe", "--node", url, "--content-topic", CONTENT_TOPIC, "--count", "1")
    assert_one_line_error(subscribed, 1, f"cannot reach node at {url}")


@pytest.mark.parametrize(("args", "fragment"), [
    (["publish", "--content-topic", "not/a/topic", "--payload", "x"], "content topic 'not/a/topic'"),
    (["publish", "--content-topic", CONTENT_TOPIC, "--pubsub-topic", "/waku/2/rs/x/0", "--payload", "x"],
     "/waku/2/rs/<cluster>/<shard>"),
    (["subscribe", "--pubsub-topic", "waku"], "must start with /waku/2/"),
    (["subscribe", "--content-topic", "/a/b"], "/application/version/name/encoding"),
    (["publish", "--node", "127.0.0.1:8645", "--content-topic", CONTENT_TOPIC, "--payload", "x"], "--node"),
])
def test_invalid_topics_and_urls_are_refused_before_contacting_a_node(args, fragment):
    assert_one_line_error(cli(*args), 2, fragment)


def test_publish_the_node_refuses(node):
    # The node relays shard 0 only: nwaku refuses to publish on a topic it does not relay.
    result = cli("publish", "--node", node.rest, "--pubsub-topic", "/waku/2/rs/1/5", "--content-topic",
                 CONTENT_TOPIC, "--payload", "x")
    assert_one_line_error(result, 1, "node answered 400 to POST /relay/v1/messages/", "not subscribed")


def test_publish_without_relay_peers_is_a_runtime_error(node):
    result = cli("publish", "--node", node.rest, "--pubsub-topic", "/waku/2/rs/1/0", "--content-topic",
                 CONTENT_TOPIC, "--payload", "nobody listens")
    assert_one_line_error(result, 1, "node answered", "Failed to publish")


def test_subscribe_times_out_when_count_is_not_reached(node):
    result = cli("subscribe", "--node", node.rest, "--pubsub-topic", "/waku/2/rs/1/0", "--count", "1",
                 "--timeout", "0.5", "--poll-interval", "0.05")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "subscribed to /waku/2/rs/1/0"
    assert lines[1:] == ["error: timed out after 0.5 s: got 0 of 1 messages"]


def test_subscribe_with_only_a_timeout_ends_normally(node):
    result = cli("subscribe", "--node", node.rest, "--pubsub-topic", "/waku/2/rs/1/0", "--timeout", "0.3")
    assert (result.returncode, result.stdout) == (0, "")
