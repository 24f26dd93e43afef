"""The request/response stream adapter every service protocol uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import trio
from libp2p.abc import IHost
from libp2p.peer.peerinfo import info_from_p2p_addr
from multiaddr import Multiaddr

from w3msg_libp2p.core.errors import PeerUnreachable, RemoteProtocolError
from w3msg_libp2p.core.framing import encode_uvarint
from w3msg_libp2p.core.ratelimit import RateLimit
from w3msg_libp2p.net.host import build_host
from w3msg_libp2p.net.reqresp import (
    RequestResponseProtocol,
    RequestResponseServer,
    read_frame,
    request,
)
from w3msg_libp2p.node.keys import generate_key_pair

PID = "/test/echo/1.0.0"


async def echo(peer: str, data: bytes) -> bytes:
    if data == b"bad":
        raise RemoteProtocolError("bad request", 400)
    return data.upper()


def refuse(status: int, desc: str) -> bytes:
    return f"{status}:{desc}".encode()


@asynccontextmanager
async def hosts(count: int) -> AsyncIterator[list[IHost]]:
    made = [build_host(generate_key_pair("ed25519")) for _ in range(count)]
    async with AsyncExitStack() as stack:
        for h in made:
            await stack.enter_async_context(h.run([Multiaddr("/ip4/127.0.0.1/tcp/0")]))
        for h in made[1:]:
            await h.connect(info_from_p2p_addr(made[0].get_addrs()[0]))
        yield made


async def test_request_response_with_errors_limits_and_rate_limits() -> None:
    async with hosts(3) as (server_host, flooder, other):
        server = RequestResponseServer(server_host, RequestResponseProtocol(
            (PID,), echo, refuse, max_request_bytes=100, rate_limit=RateLimit(5, 60.0)))
        server.mount()
        sid = str(server_host.get_id())
        assert await request(flooder, sid, (PID,), b"hello", 1000) == (PID, b"HELLO")
        assert (await request(flooder, sid, (PID,), b"bad", 1000))[1] == b"400:bad request"
        assert (await request(flooder, sid, (PID,), b"x" * 101, 1000))[1].startswith(b"413:")
        answers = [(await request(flooder, sid, (PID,), b"again", 1000))[1] for _ in range(5)]
        assert answers[:3] == [b"AGAIN"] * 3  # 5 per minute: 2 spent above (413 is refused before the limit)
        assert answers[3:] == [b"429:rate limit exceeded"] * 2
        # another peer keeps being served while the flooder is limited
        assert (await request(other, sid, (PID,), b"me too", 1000))[1] == b"ME TOO"
        assert server.stats.refusals == {"status_400": 1, "status_413": 1, "rate_limited": 2}


async def test_client_errors_are_typed() -> None:
    async with hosts(2) as (server_host, client):
        sid = str(server_host.get_id())
        with pytest.raises(PeerUnreachable):
            await request(client, sid, ("/nobody/speaks/this",), b"x", 100, timeout=5)

        async def slow(peer: str, data: bytes) -> bytes:
            await trio.sleep(10)
            return data

        RequestResponseServer(server_host, RequestResponseProtocol((PID,), slow, refuse, 100)).mount()
        with pytest.raises(PeerUnreachable, match="timed out"):
            await request(client, sid, (PID,), b"x", 100, timeout=0.5)

        async def huge(peer: str, data: bytes) -> bytes:
            return b"y" * 500

        RequestResponseServer(server_host, RequestResponseProtocol(("/huge/1",), huge, refuse, 100)).mount()
        with pytest.raises(RemoteProtocolError) as info:
            await request(client, sid, ("/huge/1",), b"x", 100)
        assert info.value.status_code == 413


async def test_read_frame_refuses_before_reading_the_body() -> None:
    class FakeStream:
        def __init__(self, data: bytes) -> None:
            self.data = data

        async def read(self, n: int) -> bytes:
            chunk, self.data = self.data[:n], self.data[n:]
            return chunk

    stream = FakeStream(encode_uvarint(10**9))
    with pytest.raises(RemoteProtocolError) as info:
        await read_frame(stream, 1000)  # type: ignore[arg-type]
    assert info.value.status_code == 413
    with pytest.raises(RemoteProtocolError, match="ended"):
        await read_frame(FakeStream(encode_uvarint(5) + b"ab"), 1000)  # type: ignore[arg-type]


async def test_one_way_server_reads_many_frames_on_one_stream() -> None:
    from libp2p.custom_types import TProtocol

    from w3msg_libp2p.core.framing import frame
    from w3msg_libp2p.net.reqresp import OneWayServer

    got: list[tuple[str, bytes]] = []

    async def collect(peer: str, data: bytes) -> None:
        got.append((peer, data))

    async with hosts(2) as (receiver, sender):
        server = OneWayServer(receiver, ("/push/1",), collect, max_bytes=100)
        server.mount()
        stream = await sender.new_stream(receiver.get_id(), [TProtocol("/push/1")])
        await stream.write(frame(b"one") + frame(b"two"))
        await stream.write(frame(b"three"))
        await stream.close()
        with trio.fail_after(5):
            while len(got) < 3:
                await trio.sleep(0.02)
        assert [d for _, d in got] == [b"one", b"two", b"three"]
        assert {p for p, _ in got} == {str(sender.get_id())}
        assert server.stats.requests == 3 and server.stats.responses == 3 and not server.stats.refusals
