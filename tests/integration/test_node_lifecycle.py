from __future__ import annotations

from pathlib import Path

import pytest

from w3msg_libp2p.core.errors import ConfigError
from w3msg_libp2p.node.node import open_node

from .conftest import local_config


class Marker(Exception):
    pass


@pytest.mark.parametrize("connected", [False, True])
async def test_exceptions_raised_inside_the_node_block_propagate_unwrapped(tmp_path: Path, connected: bool) -> None:
    # py-libp2p's cleanup under a cancelled scope used to turn this into a swallowed Cancelled
    with pytest.raises(Marker):
        async with open_node(local_config(tmp_path)) as a, open_node(local_config(tmp_path)) as b:
            if connected:
                await b.connect(a.listen_addrs()[0])
            raise Marker


async def test_port_in_use_is_a_config_error(tmp_path: Path) -> None:
    async with open_node(local_config(tmp_path)) as a:
        taken = a.listen_addrs()[0].split("/p2p/")[0]
        with pytest.raises(ConfigError, match="cannot listen"):
            async with open_node(local_config(tmp_path, listen=(taken,))):
                pass


async def test_connect_errors_are_clear(tmp_path: Path) -> None:
    from w3msg_libp2p.core.errors import PeerUnreachable

    async with open_node(local_config(tmp_path)) as a:
        with pytest.raises(ConfigError, match="no /p2p/"):
            await a.connect("/ip4/127.0.0.1/tcp/1")
        with pytest.raises(ConfigError, match="itself"):
            await a.connect(a.listen_addrs()[0])
        nobody = "/ip4/127.0.0.1/tcp/1/p2p/16Uiu2HAmR3WTEmFs5bEx2YMYsg3ZzYJZ6B6ikS6UbAWyF7X3spY9"
        with pytest.raises(PeerUnreachable):
            await a.connect(nobody, timeout=5)


async def test_wildcard_listener_is_reported_with_dialable_addresses(tmp_path: Path) -> None:
    async with open_node(local_config(tmp_path, listen=("/ip4/0.0.0.0/tcp/0",))) as a, \
            open_node(local_config(tmp_path)) as b:
        addrs = a.listen_addrs()
        assert addrs and not any("/0.0.0.0/" in x for x in addrs)
        loopback = next(x for x in addrs if x.startswith("/ip4/127.0.0.1/"))
        assert await b.connect(loopback) == a.peer_id
