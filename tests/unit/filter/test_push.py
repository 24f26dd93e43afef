"""PushSender against the two ways filter clients read pushes, on two real hosts on 127.0.0.1:
go-waku reads one push per stream and closes it; nwaku and js-waku read many from one stream."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import trio

from w3msg_libp2p.net.reqresp import STREAM_GONE, read_frame
from w3msg_libp2p.node.config import NodeConfig
from w3msg_libp2p.node.node import open_node
from w3msg_libp2p.protocols.filter.push import PushSender
from w3msg_libp2p.protocols.filter.rpc import FILTER_PUSH

N = 30


def _config(tmp_path: Path, name: str) -> NodeConfig:
    return NodeConfig(data_dir=tmp_path / name, listen=("/ip4/127.0.0.1/tcp/0",), rest=None, shards=(0,),
                      relay=None, store=None, filter=None, lightpush=None, peer_exchange=None)


async def _push_all(tmp_path: Path, handler: Any, n: int = N) -> tuple[PushSender, list[bytes]]:
    """Sends n frames from one node to another whose FILTER_PUSH handler is ``handler(stream, got)``."""
    got: list[bytes] = []
    async with open_node(_config(tmp_path, "server")) as server, open_node(_config(tmp_path, "client")) as client:
        client.host.set_stream_handler(FILTER_PUSH, lambda stream: handler(stream, got))
        await server.connect(client.listen_addrs()[0])
        async with trio.open_nursery() as nursery:
            sender = PushSender(server.host, client.peer_id, (FILTER_PUSH,), nursery, timeout=5, probe_window=0.5)
            for i in range(n):
                await sender.send(b"push %d" % i)
            with trio.fail_after(10):
                while len(got) < n:
                    await trio.sleep(0.01)
            await sender.aclose()
    return sender, got


async def _one_push_per_stream(stream: Any, got: list[bytes]) -> None:
    """As go-waku's filter client: read one push, close the stream."""
    got.append(await read_frame(stream, 1024))
    await stream.close()


async def _many_pushes_per_stream(stream: Any, got: list[bytes]) -> None:
    """As nwaku's and js-waku's: read pushes until the stream ends."""
    with contextlib.suppress(EOFError, *STREAM_GONE):
        while True:
            got.append(await read_frame(stream, 1024))


async def test_a_client_reading_one_push_per_stream_gets_every_push(tmp_path: Path) -> None:
    sender, got = await _push_all(tmp_path, _one_push_per_stream)
    assert got == [b"push %d" % i for i in range(N)]
    assert sender.stream_per_push is True and sender.streams_opened == N


async def test_a_client_reading_many_pushes_gets_them_on_one_stream(tmp_path: Path) -> None:
    sender, got = await _push_all(tmp_path, _many_pushes_per_stream)
    assert got == [b"push %d" % i for i in range(N)]
    assert sender.stream_per_push is False and sender.streams_opened == 1


class _GoWakuLimiter:
    """go-waku's filter client: at most 15 push streams a second per service peer (burst 20); it
    resets the others unread."""

    def __init__(self) -> None:
        self.tokens, self.at, self.refused = 20.0, trio.current_time(), 0

    async def __call__(self, stream: Any, got: list[bytes]) -> None:
        now = trio.current_time()
        self.tokens, self.at = min(20.0, self.tokens + (now - self.at) * 15), now
        if self.tokens < 1:
            self.refused += 1
            await stream.reset()
            return
        self.tokens -= 1
        await _one_push_per_stream(stream, got)


async def test_a_rate_limiting_one_push_per_stream_client_gets_every_push(tmp_path: Path) -> None:
    """Pushes queued faster than the client accepts streams are paced, not lost."""
    limiter = _GoWakuLimiter()
    sender, got = await _push_all(tmp_path, limiter, n=45)
    assert sender.stream_per_push is True
    assert got == [b"push %d" % i for i in range(45)] and limiter.refused == 0
