"""The go-waku v0.10.0 peer (interop/peers/go-waku) as harness kind "go-waku": what its ready line
promises (127.0.0.1 only, cluster 1 shard 0, an ENR our parser reads), its command errors, and the
metadata handshake with our node. The go-waku scenarios themselves (interop/scenarios/go-waku-*.json:
relay, lightpush, filter, store, peer exchange) run in test_scenarios.py with every other scenario."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from interop.harness.parties import NodeParty, PeerParty, node_party
from interop.harness.peers import PEERS, peer_process
from w3msg_libp2p.core.enr import parse_enr
from w3msg_libp2p.testing.peer_process import PeerError

pytestmark = pytest.mark.interop


@pytest.fixture(scope="session")
def go_waku_peer(build_peer_or_skip: Callable[[str], float]) -> float:
    return build_peer_or_skip("go-waku")


@asynccontextmanager
async def go_waku(log_dir: Path, *extra: str) -> AsyncIterator[PeerParty]:
    async with peer_process("go-waku", "waku", log_dir / "go-waku.log", extra) as proc:
        yield PeerParty(proc)


async def test_ready_line_is_loopback_cluster_1_shard_0_with_a_readable_enr(go_waku_peer: float,
                                                                           tmp_path: Path) -> None:
    async with go_waku(tmp_path) as peer:
        ready = peer.peer.ready
    assert ready["versions"] == {"go-waku": "v0.10.0"} and (ready["cluster_id"], ready["shards"]) == (1, [0])
    assert ready["multiaddrs"] and all(a.startswith("/ip4/127.0.0.1/tcp/") and a.endswith(f"/p2p/{peer.peer_id}")
                                       for a in ready["multiaddrs"])
    enr = parse_enr(ready["enr"])
    assert enr.peer_id == peer.peer_id and enr.ip == "127.0.0.1"
    assert enr.tcp == int(ready["multiaddrs"][0].split("/")[4])
    shards = enr.relay_shards
    assert shards is not None and (shards.cluster_id, shards.shard_ids) == (1, (0,))


async def test_discv5_is_refused_outside_the_harness_network_namespace(go_waku_peer: float) -> None:
    """go-waku binds discv5 to 0.0.0.0: the peer runs it only where loopback is the only interface."""
    env = {k: v for k, v in os.environ.items() if k != "W3MSG_INTEROP_NETNS"}
    with trio.fail_after(30):
        proc = await trio.run_process([*PEERS["go-waku"].command, "--mode", "waku", "--discv5"], env=env,
                                      stdin=subprocess.DEVNULL, capture_stdout=True, capture_stderr=True, check=False)
    assert proc.returncode != 0 and b"network namespace" in proc.stderr and proc.stdout == b""


async def test_unknown_command_and_bad_peer_id_are_error_replies(go_waku_peer: float, tmp_path: Path) -> None:
    async with go_waku(tmp_path) as peer:
        with pytest.raises(PeerError, match="unknown command"):
            await peer.peer.command("no_such_command")
        with pytest.raises(PeerError, match="filter_ping failed"):
            await peer.peer.command("filter_ping", peer_id="not-a-peer-id")
        assert (await peer.peer.command("stats"))["received"] == 0  # still serving


async def test_other_modes_are_refused(go_waku_peer: float) -> None:
    with trio.fail_after(30):
        proc = await trio.run_process([*PEERS["go-waku"].command, "--mode", "libp2p"], stdin=subprocess.DEVNULL,
                                      capture_stdout=True, capture_stderr=True, check=False)
    assert proc.returncode != 0 and proc.stdout == b"" and b"only speaks" in proc.stderr


async def test_exits_when_stdin_closes(go_waku_peer: float) -> None:
    with trio.fail_after(30):
        proc = await trio.run_process([*PEERS["go-waku"].command, "--mode", "waku"], stdin=b"",
                                      capture_stdout=True, capture_stderr=True, check=False)
    assert proc.returncode == 0
    assert json.loads(proc.stdout.splitlines()[0])["event"] == "ready"


async def _still_connected(node: NodeParty, peer_id: str, seconds: float) -> bool:
    with trio.move_on_after(seconds):
        while peer_id in node.node.connected_peer_ids():
            await trio.sleep(0.05)
        return False
    return True


@pytest.mark.parametrize(("cluster_id", "stays"), [(1, True), (2, False)])
async def test_metadata_keeps_peers_of_our_cluster_and_drops_others(go_waku_peer: float, tmp_path: Path,
                                                                    cluster_id: int, stays: bool) -> None:
    """go-waku and our node exchange /vac/waku/metadata/1.0.0: same cluster stays connected, another
    cluster is disconnected (by either side)."""
    async with go_waku(tmp_path) as peer, node_party(tmp_path / "node", {"cluster_id": cluster_id}) as node:
        await node.node.connect(peer.address("tcp"))
        assert await _still_connected(node, peer.peer_id, 5) is stays
