"""Real py-libp2p hosts on 127.0.0.1 running our relay."""

from __future__ import annotations

import time
from pathlib import Path

import trio

from w3msg_libp2p.core.message import WakuMessage, message_hash
from w3msg_libp2p.node.node import Node, open_node

from .conftest import TOPIC, local_config, running_nodes


def msg(i: int, size: int = 64) -> WakuMessage:
    return WakuMessage(payload=i.to_bytes(4, "big") + bytes(size), content_topic="/test/1/relay/proto",
                       timestamp=time.time_ns())


async def collect(node: Node, count: int, timeout: float = 15.0) -> set[bytes]:
    got: set[bytes] = set()
    with node.relay.messages(TOPIC) as sub, trio.move_on_after(timeout):  # type: ignore[union-attr]
        while len(got) < count:
            got.add((await sub.receive()).hash)
    return got


async def test_ten_node_mesh_delivers_every_message_to_every_node(tmp_path: Path) -> None:
    async with running_nodes(tmp_path, 10) as nodes:
        # a sparse random-ish topology: a ring plus chords; gossipsub builds the mesh on top
        for i, node in enumerate(nodes):
            await node.connect(nodes[(i + 1) % 10].listen_addrs()[0])
            if i % 3 == 0:
                await node.connect(nodes[(i + 4) % 10].listen_addrs()[0])
        for node in nodes:
            await node.relay.wait_for_mesh(TOPIC, 2)  # type: ignore[union-attr]
        subs = [node.relay.messages(TOPIC) for node in nodes]  # type: ignore[union-attr]
        sent = []
        for i in range(100):
            m = msg(i)
            sent.append(await nodes[i % 10].relay.publish(TOPIC, m))  # type: ignore[union-attr]
        expected = set(sent)
        for node, sub in zip(nodes, subs, strict=True):
            got: set[bytes] = set()
            with trio.move_on_after(15):
                while got != expected:
                    got.add((await sub.receive()).hash)
            assert got == expected, f"{node.peer_id} missed {len(expected - got)}"
            sub.close()
        for node in nodes:
            assert not node.relay.router.stats.drops, node.relay.router.stats.drops  # type: ignore[union-attr]


async def test_restarted_node_rejoins_with_same_identity(tmp_path: Path) -> None:
    cfg_a = local_config(tmp_path, "a")
    cfg_b = local_config(tmp_path, "b")
    async with open_node(cfg_a) as a:
        # b is configured with a as a static peer: it dials and redials on its own
        cfg_b = cfg_b.with_overrides(peers=(a.listen_addrs()[0],))
        async with open_node(cfg_b) as b:
            first_id = b.peer_id
            await b.relay.wait_for_mesh(TOPIC, 1)  # type: ignore[union-attr]
        # b is gone: a notices
        with trio.fail_after(10):
            while a.connected_peer_ids():
                await trio.sleep(0.05)
        assert not a.relay.mesh_peers(TOPIC)  # type: ignore[union-attr]
        async with open_node(cfg_b) as b:
            assert b.peer_id == first_id
            await a.relay.wait_for_mesh(TOPIC, 1)  # type: ignore[union-attr]
            await b.relay.wait_for_mesh(TOPIC, 1)  # type: ignore[union-attr]
            with b.relay.messages(TOPIC) as sub:  # type: ignore[union-attr]
                sent = await a.relay.publish(TOPIC, msg(1))  # type: ignore[union-attr]
                with trio.fail_after(10):
                    env = await sub.receive()
            assert env.hash == sent == message_hash(TOPIC, env.message)
            assert env.received_from == a.peer_id


async def test_websocket_transport_carries_relay(tmp_path: Path) -> None:
    async with open_node(local_config(tmp_path, listen=("/ip4/127.0.0.1/tcp/0/ws",))) as ws_node, \
            open_node(local_config(tmp_path)) as tcp_node:
        ws_addr = ws_node.listen_addrs()[0]
        assert "/ws/" in ws_addr
        await tcp_node.connect(ws_addr)
        await tcp_node.relay.wait_for_mesh(TOPIC, 1)  # type: ignore[union-attr]
        with ws_node.relay.messages(TOPIC) as sub:  # type: ignore[union-attr]
            sent = await tcp_node.relay.publish(TOPIC, msg(7))  # type: ignore[union-attr]
            with trio.fail_after(10):
                assert (await sub.receive()).hash == sent


async def test_publish_without_peers_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    from w3msg_libp2p.core.errors import PublishError

    async with running_nodes(tmp_path, 1) as (node,):
        try:
            await node.relay.publish(TOPIC, msg(1))  # type: ignore[union-attr]
        except PublishError as exc:
            assert "no peers" in str(exc)
        else:
            raise AssertionError("publish with no peers must fail")


async def test_throughput_burst_is_delivered_completely_in_order_of_acceptance(tmp_path: Path) -> None:
    async with running_nodes(tmp_path, 3) as (a, b, c):
        await a.connect(b.listen_addrs()[0])
        await b.connect(c.listen_addrs()[0])
        await c.relay.wait_for_mesh(TOPIC, 1)  # type: ignore[union-attr]
        await a.relay.wait_for_mesh(TOPIC, 1)  # type: ignore[union-attr]
        with c.relay.messages(TOPIC) as sub:  # type: ignore[union-attr]
            sent = [await a.relay.publish(TOPIC, msg(i, 1024)) for i in range(2000)]  # type: ignore[union-attr]
            got = []
            with trio.move_on_after(30):
                while len(got) < len(sent):
                    got.append((await sub.receive()).hash)
        assert got == sent  # a line preserves order, and nothing is lost
