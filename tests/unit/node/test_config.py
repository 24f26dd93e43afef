from __future__ import annotations

from pathlib import Path

import pytest

from w3msg_libp2p.core.errors import ConfigError
from w3msg_libp2p.node.config import NodeConfig, RelayConfig, RestConfig

PEER = "/ip4/127.0.0.1/tcp/60000/p2p/16Uiu2HAmR3WTEmFs5bEx2YMYsg3ZzYJZ6B6ikS6UbAWyF7X3spY9"


def test_defaults_match_the_documented_ones() -> None:
    c = NodeConfig()
    assert c.listen == ("/ip4/0.0.0.0/tcp/60000", "/ip4/0.0.0.0/tcp/8000/ws")
    assert c.rest == RestConfig(address="127.0.0.1", port=8645)
    assert c.metrics is None and c.peers == () and c.key_type == "secp256k1"
    assert c.resolved_data_dir == Path("~/.w3msg").expanduser()
    assert c.pubsub_topics() == [f"/waku/2/rs/1/{i}" for i in range(8)]


def test_shards_and_content_topics_choose_the_relayed_topics() -> None:
    c = NodeConfig(shards=(2,), content_topics=("/toychat/2/huilong/proto",))
    assert c.pubsub_topics() == ["/waku/2/rs/1/2", "/waku/2/rs/1/3"]


def test_from_toml(tmp_path: Path) -> None:
    f = tmp_path / "node.toml"
    f.write_text(
        f'data-dir = "{tmp_path}"\nlisten = ["/ip4/127.0.0.1/tcp/0"]\npeers = ["{PEER}"]\n'
        'cluster-id = 2\nshards = [0, 3]\nkey-type = "ed25519"\n'
        '[relay]\nd = 5\nd-low = 3\n[rest]\nport = 9000\n[metrics]\nport = 9100\n'
    )
    c = NodeConfig.from_toml(f)
    assert c.data_dir == tmp_path and c.peers == (PEER,) and c.cluster_id == 2 and c.shards == (0, 3)
    assert c.relay == RelayConfig(d=5, d_low=3)
    assert c.rest is not None and c.rest.port == 9000
    assert c.metrics is not None and c.metrics.port == 9100


def test_rest_can_be_disabled(tmp_path: Path) -> None:
    f = tmp_path / "node.toml"
    f.write_text("rest = false\n")
    assert NodeConfig.from_toml(f).rest is None


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("listen = [\"/ip4/1.2.3/tcp/1\"]", "malformed"),
        ("peers = [\"/ip4/127.0.0.1/tcp/1\"]", "no /p2p/"),
        ("bogus = 1", "unknown setting 'bogus'"),
        ("[relay]\nd-lo = 3", "unknown setting 'd-lo'"),
        ("[relay]\nd = 9", "d-low <= d <= d-high"),
        ("[rest]\nport = 70000", "port"),
        ("cluster-id = -1", "cluster-id"),
        ("key-type = \"rsa\"", "key-type"),
        ("content-topics = [\"nope\"]", "content-topics"),
        ("listen = \"/ip4/127.0.0.1/tcp/1\"", "must be a list"),
        ("this is not toml", "not valid TOML"),
        ("rest = 3", "must be a table"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, complaint: str) -> None:
    f = tmp_path / "node.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=complaint):
        NodeConfig.from_toml(f)


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        NodeConfig.from_toml("/nonexistent/node.toml")


def test_service_sections(tmp_path: Path) -> None:
    from w3msg_libp2p.core.ratelimit import RateLimit
    from w3msg_libp2p.node.service_config import FilterConfig, LightpushConfig, StoreConfig

    f = tmp_path / "node.toml"
    f.write_text(
        'lightpush = true\npeer-exchange = false\n'
        '[store]\nurl = "postgresql://u@127.0.0.1/db"\nmax-age = 3600\nrate-limit = "5/1s"\n'
        '[filter]\nsubscription-timeout = 60\nrate-limit = false\n'
    )
    c = NodeConfig.from_toml(f)
    assert c.store == StoreConfig(url="postgresql://u@127.0.0.1/db", max_age=3600, rate_limit=RateLimit(5, 1.0))
    assert c.filter == FilterConfig(subscription_timeout=60, rate_limit=None)
    assert c.lightpush == LightpushConfig()
    assert c.peer_exchange is None  # turned off
    full = NodeConfig()  # a full service node by default
    assert (full.store, full.filter, full.lightpush) == (StoreConfig(), FilterConfig(), LightpushConfig())


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('[store]\nurl = "mysql://x"', "sqlite:// or postgresql://"),
        ("[store]\ndefault-page-size = 200", "default-page-size"),
        ("[filter]\nmax-peers = 0", "max-peers must be positive"),
        ('[lightpush]\nrate-limit = "fast"', "rate limit"),
        ("light = true", "service peer"),
    ],
)
def test_bad_service_config(tmp_path: Path, text: str, complaint: str) -> None:
    f = tmp_path / "node.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=complaint):
        NodeConfig.from_toml(f)
