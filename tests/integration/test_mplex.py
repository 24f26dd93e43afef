"""mplex under concurrent bidirectional bulk traffic: py-libp2p 0.8.1's Mplex deadlocks, ours does not.

Two mplex-only py-libp2p hosts (Noise, TCP on 127.0.0.1) open several streams and on each one both
ends send and receive at the same time, each reading in one task and writing in another. The
stock Mplex makes a task waiting in read() hold the stream's lock, so the writer next to it waits
forever (w3msg_libp2p/net/mplex.py explains both causes and the upstream issues).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import libp2p
import pytest
import trio
from libp2p.abc import IHost, INetStream
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamReset
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from multiaddr import Multiaddr

from w3msg_libp2p.net.mplex import MAX_STREAM_BUFFER, W3Mplex
from w3msg_libp2p.node.keys import generate_key_pair

BULK = TProtocol("/w3msg/test/bulk/1.0.0")
STREAMS = 4
SIZE = 1 << 20  # per stream and direction
WRITE_SIZE = 16 * 1024


def mplex_host(muxer: type[Mplex]) -> IHost:
    key = generate_key_pair("ed25519")
    return libp2p.new_host(
        key_pair=key,
        sec_opt={NOISE: NoiseTransport(key, noise_privkey=new_x25519().private_key)},
        muxer_opt={TProtocol(MPLEX_PROTOCOL_ID): muxer},
    )


@asynccontextmanager
async def connected_pair(client_muxer: type[Mplex], server_muxer: type[Mplex]) -> AsyncIterator[tuple[IHost, IHost]]:
    client, server = mplex_host(client_muxer), mplex_host(server_muxer)
    listen = [Multiaddr("/ip4/127.0.0.1/tcp/0")]
    async with client.run(listen), server.run(listen):
        addr = str(server.get_addrs()[0])
        if "/p2p/" not in addr:
            addr += f"/p2p/{server.get_id()}"
        await client.connect(info_from_p2p_addr(Multiaddr(addr)))
        yield client, server


def pattern(tag: str, size: int) -> bytes:
    block = hashlib.sha256(tag.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


async def full_duplex(stream: INetStream, outgoing: bytes, expect: int) -> bytes:
    """Receive ``expect`` bytes while sending ``outgoing``, in two tasks.

    The reader starts first: a peer that is waiting for data must still be able to send.
    """
    received = bytearray()

    async def read() -> None:
        while len(received) < expect:
            received.extend(await stream.read(65536))

    async def write() -> None:
        await trio.sleep(0.05)  # the reader is now waiting inside read()
        for offset in range(0, len(outgoing), WRITE_SIZE):
            await stream.write(outgoing[offset : offset + WRITE_SIZE])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        nursery.start_soon(write)
    return bytes(received)


async def bulk_exchange(client: IHost, server: IHost, streams: int, size: int) -> dict[str, bool]:
    """Each stream carries ``size`` bytes each way at once; returns {side+stream: bytes intact}."""
    intact: dict[str, bool] = {}

    async def serve(stream: INetStream) -> None:
        tag = (await stream.read(4)).decode()
        got = await full_duplex(stream, pattern("server" + tag, size), size)
        intact["server" + tag] = got == pattern("client" + tag, size)
        await stream.close()

    server.set_stream_handler(BULK, serve)

    async def run_client(i: int) -> None:
        stream = await client.new_stream(server.get_id(), [BULK])
        tag = f"{i:04d}"
        await stream.write(tag.encode())
        got = await full_duplex(stream, pattern("client" + tag, size), size)
        intact["client" + tag] = got == pattern("server" + tag, size)
        await stream.close()

    async with trio.open_nursery() as nursery:
        for i in range(streams):
            nursery.start_soon(run_client, i)
    while len(intact) < 2 * streams:  # the server side finishes a moment after the client
        await trio.sleep(0.01)
    return intact


async def test_our_mplex_carries_bulk_both_ways_on_several_streams() -> None:
    async with connected_pair(W3Mplex, W3Mplex) as (client, server):
        with trio.fail_after(30):
            intact = await bulk_exchange(client, server, STREAMS, SIZE)
        assert len(intact) == 2 * STREAMS and all(intact.values()), intact
        muxer = client.get_network().connections[server.get_id()][0].muxed_conn
        assert isinstance(muxer, W3Mplex)
        assert muxer.statistics()["resets_for_overflow"] == 0


async def test_stock_mplex_deadlocks_on_the_same_exchange() -> None:
    """Documents the upstream bug our seam works around: if this starts passing bulk data, py-libp2p
    fixed its Mplex and w3msg_libp2p/net/mplex.py can go."""
    async with connected_pair(Mplex, Mplex) as (client, server):
        with trio.move_on_after(3) as timer:
            intact = await bulk_exchange(client, server, STREAMS, 64 * 1024)
        assert timer.cancelled_caught, f"stock Mplex finished the full-duplex exchange: {intact}"


async def test_ours_and_stock_interoperate() -> None:
    """Our 64 KB frames are within what the stock reader accepts, and we read its 4 KB ones.
    One direction at a time per stream, which the stock Mplex can do."""
    async with connected_pair(W3Mplex, Mplex) as (client, server):
        received: dict[str, bytes] = {}

        async def serve(stream: INetStream) -> None:
            received["server"] = await stream.read()  # until the client's CLOSE
            await stream.write(pattern("server", SIZE))
            await stream.close()

        server.set_stream_handler(BULK, serve)
        with trio.fail_after(30):
            stream = await client.new_stream(server.get_id(), [BULK])
            await stream.write(pattern("client", SIZE))
            await stream.close()
            received["client"] = await stream.read()
        assert received == {"server": pattern("client", SIZE), "client": pattern("server", SIZE)}


async def test_a_stream_nobody_reads_is_reset_alone() -> None:
    """mplex has no flow control: past MAX_STREAM_BUFFER unread bytes the stream is reset, and the
    connection's other streams keep flowing meanwhile (no head-of-line blocking)."""
    async with connected_pair(W3Mplex, W3Mplex) as (client, server):
        stalled = trio.Event()
        SLOW = TProtocol("/w3msg/test/never-reads/1.0.0")

        async def never_read(stream: INetStream) -> None:
            await stalled.wait()  # holds the stream open without reading

        server.set_stream_handler(SLOW, never_read)
        outcome: dict[str, object] = {}

        async def flood() -> None:
            slow = await client.new_stream(server.get_id(), [SLOW])
            with pytest.raises(StreamReset):
                chunk = b"\x00" * WRITE_SIZE
                for _ in range(2 * MAX_STREAM_BUFFER // WRITE_SIZE):
                    await slow.write(chunk)
                await slow.read(1)  # everything went out before the reset came back: reading tells
            outcome["flood"] = "reset"

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(flood)
                outcome["bulk"] = await bulk_exchange(client, server, 2, 256 * 1024)
        stalled.set()
        assert outcome == {"flood": "reset", "bulk": {"client0000": True, "client0001": True,
                                                      "server0000": True, "server0001": True}}
        server_muxer = server.get_network().connections[client.get_id()][0].muxed_conn
        assert isinstance(server_muxer, W3Mplex)
        assert server_muxer.statistics()["resets_for_overflow"] == 1
