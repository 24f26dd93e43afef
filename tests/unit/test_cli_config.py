"""`w3msg-node` argument handling: flags and config files -> NodeConfig, and one-line errors.

`run --print-config` prints the NodeConfig the command would run, in the config file's shape;
reading it back with NodeConfig.from_mapping lets these tests compare whole NodeConfig values.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from w3msg_libp2p.cli import cli, config_to_mapping, describe_failure
from w3msg_libp2p.core.errors import ConfigError, PeerUnreachable, PublishError
from w3msg_libp2p.node.config import MetricsConfig, NodeConfig, RelayConfig, RestConfig

PEER = "/ip4/127.0.0.1/tcp/60001/p2p/16Uiu2HAmESW2DBTb2R91zFo9JS29oUvtLbeeyrFXH6fhxfqPwLBd"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def effective_config(*args: str) -> NodeConfig:
    result = invoke("run", "--print-config", *args)
    assert result.exit_code == 0, result.stderr
    return NodeConfig.from_mapping(json.loads(result.stdout))


def assert_usage_error(result, *fragments: str, code: int = 2) -> None:
    """Exactly one line on stderr, starting with 'error:', naming what was wrong; no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert result.stdout == ""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


# -- flags -> NodeConfig -----------------------------------------------------------------------

def test_no_flags_gives_the_default_config():
    assert effective_config() == NodeConfig()


def test_every_run_flag_maps_to_its_setting(tmp_path):
    config = effective_config(
        "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/tcp/0/ws",
        "--peer", PEER, "--cluster-id", "16", "--num-shards-in-cluster", "4",
        "--shard", "3", "--shard", "1", "--content-topic", "/app/1/chat/proto",
        "--data-dir", str(tmp_path / "data"), "--key-file", str(tmp_path / "k.key"), "--key-type", "ed25519",
        "--rest-address", "127.0.0.2", "--rest-port", "0", "--metrics-port", "9100", "--log-level", "debug",
    )
    assert config == NodeConfig(
        listen=("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"),
        peers=(PEER,), cluster_id=16, num_shards_in_cluster=4, shards=(3, 1),
        content_topics=("/app/1/chat/proto",), data_dir=tmp_path / "data", key_file=tmp_path / "k.key",
        key_type="ed25519", rest=RestConfig(address="127.0.0.2", port=0),
        metrics=MetricsConfig(port=9100), log_level="debug",
    )


def test_metrics_are_off_unless_asked_for():
    assert effective_config().metrics is None
    assert effective_config("--metrics-address", "127.0.0.3").metrics == MetricsConfig(address="127.0.0.3")


def test_no_rest_unmounts_the_rest_api():
    assert effective_config("--no-rest").rest is None


def test_flags_override_the_config_file_and_unset_flags_keep_it(tmp_path):
    path = write(tmp_path, f"""
listen = ["/ip4/127.0.0.1/tcp/7000"]
peers = ["{PEER}"]
shards = [0, 1]
cluster-id = 2
log-level = "warning"

[relay]
heartbeat-interval = 0.25

[rest]
port = 9000
cache-capacity = 50
""")
    config = effective_config("--config", str(path), "--shard", "5", "--rest-port", "9001")
    assert config == NodeConfig(
        listen=("/ip4/127.0.0.1/tcp/7000",), peers=(PEER,), shards=(5,), cluster_id=2, log_level="warning",
        relay=RelayConfig(heartbeat_interval=0.25), rest=RestConfig(port=9001, cache_capacity=50),
    )


def test_a_rest_flag_mounts_the_rest_api_the_file_turned_off(tmp_path):
    path = write(tmp_path, "rest = false\n")
    assert effective_config("--config", str(path)).rest is None
    assert effective_config("--config", str(path), "--rest-port", "0").rest == RestConfig(port=0)


def test_no_rest_overrides_a_rest_table_in_the_file(tmp_path):
    path = write(tmp_path, "[rest]\nport = 9000\n")
    assert effective_config("--config", str(path), "--no-rest").rest is None


def test_metrics_port_keeps_the_files_metrics_address(tmp_path):
    path = write(tmp_path, '[metrics]\naddress = "127.0.0.5"\n')
    config = effective_config("--config", str(path), "--metrics-port", "0")
    assert config.metrics == MetricsConfig(address="127.0.0.5", port=0)


@pytest.mark.parametrize("config", [
    NodeConfig(),
    NodeConfig(key_file=Path("/tmp/k"), relay=None, rest=None, metrics=MetricsConfig(port=1),
               content_topics=("/a/1/b/c",), shards=(7,), peers=(PEER,)),
])
def test_printed_config_reads_back_as_the_same_config(config):
    assert NodeConfig.from_mapping(json.loads(json.dumps(config_to_mapping(config)))) == config


# -- run: bad input is one line and exit code 2 ------------------------------------------------

@pytest.mark.parametrize(("args", "fragments"), [
    (["--listen", "not-a-multiaddr"], ["listen address 'not-a-multiaddr'", "must start with '/'"]),
    (["--listen", "/ip4/1.2.3/tcp/1"], ["listen address '/ip4/1.2.3/tcp/1' is malformed"]),
    (["--peer", "/ip4/127.0.0.1/tcp/1"], ["peer address", "no /p2p/<peer-id>"]),
    (["--content-topic", "chat"], ["content topic 'chat'"]),
    (["--content-topic", "/app/1/chat"], ["/application/version/name/encoding"]),
    (["--shard", "1024"], ["shard 1024 out of range"]),
    (["--shard", "x"], ["'--shard'", "not a valid integer"]),
    (["--cluster-id", "70000"], ["cluster-id"]),
    (["--rest-port", "70000"], ["rest.port"]),
    (["--rest-address", "localhost"], ["rest.address", "not an IP address"]),
    (["--key-type", "rsa"], ["'--key-type'", "rsa"]),
    (["--log-level", "loud"], ["'--log-level'"]),
    (["--no-rest", "--rest-port", "1"], ["--no-rest"]),
    (["--status-interval", "-1"], ["--status-interval"]),
    (["--bogus"], ["No such option", "--bogus"]),
])
def test_bad_run_flags_give_one_line_and_exit_2(args, fragments):
    assert_usage_error(invoke("run", "--print-config", *args), *fragments)


def test_unknown_config_key_is_named(tmp_path):
    path = write(tmp_path, "listen = []\nlisten-port = 1\n")
    assert_usage_error(invoke("run", "--config", str(path)), "unknown setting 'listen-port'")


def test_unknown_key_in_a_table_is_named(tmp_path):
    path = write(tmp_path, "[rest]\nprot = 1\n")
    assert_usage_error(invoke("run", "--config", str(path)), "[rest]", "unknown setting 'prot'")


def test_config_file_that_is_not_toml(tmp_path):
    path = write(tmp_path, "listen = [\n")
    assert_usage_error(invoke("run", "--config", str(path)), "not valid TOML")


def test_missing_config_file(tmp_path):
    assert_usage_error(invoke("run", "--config", str(tmp_path / "nope.toml")), "nope.toml", "does not exist")


def test_invalid_value_in_config_file(tmp_path):
    path = write(tmp_path, 'peers = ["/ip4/127.0.0.1/tcp/1"]\n')
    assert_usage_error(invoke("run", "--config", str(path)), "node.toml", "no /p2p/<peer-id>")


# -- publish / subscribe / id: arguments are checked before anything is contacted -------------

UNUSED_NODE = "http://127.0.0.1:9"  # the discard port: nothing listens there in these tests


@pytest.mark.parametrize(("args", "fragments"), [
    (["--content-topic", "/a/1/b/c"], ["exactly one of --payload"]),
    (["--content-topic", "/a/1/b/c", "--payload", "x", "--payload-base64", "eA=="], ["exactly one"]),
    (["--content-topic", "/a/1/b/c", "--payload-base64", "%%%"], ["--payload-base64", "base64"]),
    (["--content-topic", "bad", "--payload", "x"], ["content topic 'bad'"]),
    (["--content-topic", "/a/1/b/c", "--pubsub-topic", "/waku/2/rs/1", "--payload", "x"],
     ["/waku/2/rs/<cluster>/<shard>"]),
    (["--content-topic", "/a/1/b/c", "--payload", "x", "--timestamp", "0"], ["--timestamp"]),
    (["--content-topic", "/a/1/b/c", "--payload", "x", "--timestamp", "5", "--timestamp-now"],
     ["--timestamp-now or --timestamp"]),
    (["--content-topic", "/a/1/b/c", "--payload-file", "/nonexistent/file"], ["--payload-file"]),
])
def test_bad_publish_arguments(args, fragments):
    assert_usage_error(invoke("publish", "--node", UNUSED_NODE, *args), *fragments)


@pytest.mark.parametrize("url", ["localhost:8645", "ftp://127.0.0.1", "http://"])
def test_node_url_must_be_http(url):
    assert_usage_error(invoke("publish", "--node", url, "--content-topic", "/a/1/b/c", "--payload", "x"),
                       "--node")


@pytest.mark.parametrize(("args", "fragments"), [
    ([], ["--pubsub-topic or --content-topic"]),
    (["--pubsub-topic", "/waku/2/rs/1/0", "--content-topic", "/a/1/b/c"], ["not both"]),
    (["--content-topic", "/a/1/b"], ["/application/version/name/encoding"]),
    (["--pubsub-topic", "/other/topic"], ["must start with /waku/2/"]),
    (["--content-topic", "/a/1/b/c", "--count", "0"], ["--count"]),
])
def test_bad_subscribe_arguments(args, fragments):
    assert_usage_error(invoke("subscribe", "--node", UNUSED_NODE, *args), *fragments)


def test_id_without_a_key_file_creates_nothing(tmp_path):
    assert_usage_error(invoke("id", "--data-dir", str(tmp_path / "d")), "no key file", "node.key")
    assert not (tmp_path / "d").exists()


def test_id_with_an_invalid_key_file(tmp_path):
    key = tmp_path / "node.key"
    key.write_bytes(b"not a key")
    assert_usage_error(invoke("id", "--key-file", str(key)), "not a libp2p private key")


# -- the error edge ----------------------------------------------------------------------------

def test_errors_wrapped_by_trio_nurseries_are_described():
    group = BaseExceptionGroup("nursery", [BaseExceptionGroup("inner", [ConfigError("cannot listen")])])
    assert describe_failure(group) == ("cannot listen", 2)


def test_runtime_errors_exit_1():
    assert describe_failure(PeerUnreachable("gone")) == ("gone", 1)
    assert describe_failure(PublishError("no peers\nat all")) == ("no peers at all", 1)


def test_http_errors_name_the_node():
    request = httpx.Request("POST", "http://127.0.0.1:8645/relay/v1/auto/messages")
    message, code = describe_failure(httpx.ConnectError("Connection refused", request=request))
    assert (code, message) == (1, "cannot reach node at http://127.0.0.1:8645: Connection refused")
    response = httpx.Response(400, text="Failed to publish: no peers", request=request)
    message, code = describe_failure(httpx.HTTPStatusError("400", request=request, response=response))
    assert code == 1
    assert message == "node answered 400 to POST /relay/v1/auto/messages: Failed to publish: no peers"


def test_bugs_are_not_disguised_as_bad_input():
    assert describe_failure(KeyError("x")) is None
    assert describe_failure(ExceptionGroup("g", [ConfigError("x"), ZeroDivisionError()])) is None


def test_service_flags_and_print_config_round_trip(tmp_path: Path) -> None:
    from w3msg_libp2p.cli import build_config, config_to_mapping
    from w3msg_libp2p.node.config import NodeConfig
    from w3msg_libp2p.node.service_config import StoreConfig

    flags = {name: None for name in ("cluster_id", "num_shards_in_cluster", "data_dir", "key_file", "key_type",
                                      "log_level", "store", "store_url", "filter_", "lightpush", "peer_exchange",
                                      "light", "rest_address", "rest_port", "metrics_address", "metrics_port")}
    flags.update(listen=(), peer=(), shard=(), content_topic=(), service_peer=(), no_rest=False)
    config = build_config(None, **{**flags, "store": True, "store_url": "postgresql://u@127.0.0.1/db",
                                   "filter_": False})
    assert config.store == StoreConfig(url="postgresql://u@127.0.0.1/db")
    assert config.lightpush is not None and config.filter is None
    assert NodeConfig.from_mapping(config_to_mapping(config)) == config
    unlimited = config.with_overrides(store=StoreConfig(max_age=None, rate_limit=None))
    assert NodeConfig.from_mapping(config_to_mapping(unlimited)) == unlimited
    peer = "/ip4/127.0.0.1/tcp/1/p2p/16Uiu2HAmR3WTEmFs5bEx2YMYsg3ZzYJZ6B6ikS6UbAWyF7X3spY9"
    light = build_config(None, **{**flags, "light": True, "service_peer": (peer,)})
    assert light.light and light.relay is None and light.store is None and light.service_peers == (peer,)
