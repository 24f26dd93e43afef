"""Bad input to filter: malformed and oversized requests, floods, garbage and unsolicited pushes."""

from __future__ import annotations

import random
from pathlib import Path

from w3msg_libp2p.core.ratelimit import RateLimit
from w3msg_libp2p.net.reqresp import request, send_one_way
from w3msg_libp2p.node.service_config import FilterConfig
from w3msg_libp2p.protocols.filter.codec import (
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    decode_response,
    encode_push,
)
from w3msg_libp2p.protocols.filter.rpc import (
    FILTER_PUSH,
    FILTER_SUBSCRIBE,
    MessagePush,
    SubscribeRequest,
    SubscribeType,
)

from .conftest import CT, PS, filter_net, msg, wait_until


async def test_malformed_and_oversized_requests_are_refused_and_counted(tmp_path: Path) -> None:
    async with filter_net(tmp_path) as net:
        light, client = await net.light("light")
        sid = await light.connect(net.service_addr)
        _, data = await request(light.host, sid, (FILTER_SUBSCRIBE,), b"\xff\xff\xff", MAX_RESPONSE_BYTES)
        refused = decode_response(data)
        assert (refused.request_id, refused.status_code) == ("N/A", 400)
        assert refused.status_desc is not None and refused.status_desc.startswith("BAD_REQUEST: malformed")
        _, data = await request(light.host, sid, (FILTER_SUBSCRIBE,), b"\x0a" * (MAX_REQUEST_BYTES + 1),
                                MAX_RESPONSE_BYTES)
        assert decode_response(data).status_code == 413
        # random garbage: each blob is refused (400) or, if it happens to parse, answered
        rng = random.Random(7)
        for _ in range(25):
            blob = rng.randbytes(rng.randrange(1, 200))
            _, data = await request(light.host, sid, (FILTER_SUBSCRIBE,), blob, MAX_RESPONSE_BYTES)
            assert decode_response(data).status_code in (200, 400, 404, 503)
        await client.subscribe(net.service_addr, [CT], PS)  # still serving
        stats = net.service.statistics()["filter"]
        assert stats["refusals"]["status_400"] >= 1 and stats["refusals"]["status_413"] == 1
        served = sum(stats["requests"].values())
        assert served + stats["refusals"]["status_400"] + 1 == 28


async def test_a_flooding_peer_gets_429_while_others_are_served(tmp_path: Path) -> None:
    async with filter_net(tmp_path, FilterConfig(rate_limit=RateLimit(5, 60.0))) as net:
        _, flooder = await net.light("flooder")
        _, other = await net.light("other")
        sid = net.service.peer_id
        statuses = []
        for i in range(8):
            ping = SubscribeRequest(f"p{i}", SubscribeType.SUBSCRIBER_PING)
            statuses.append((await flooder.send(net.service_addr, ping)).status_code)
        assert statuses == [404] * 5 + [429] * 3
        await other.subscribe(net.service_addr, [CT], PS)
        await other.ping(sid)
        stats = net.service.statistics()["filter"]
        assert stats["refusals"]["rate_limited"] == 3


async def test_garbage_and_unsolicited_pushes_are_dropped_and_counted(tmp_path: Path) -> None:
    async with filter_net(tmp_path) as net:
        light, client = await net.light("light")
        await client.subscribe(net.service_addr, [CT], PS)
        publisher = net.publisher
        await publisher.connect(light.listen_addrs()[0])
        with client.messages() as sub:
            await send_one_way(publisher.host, light.peer_id, (FILTER_PUSH,), b"\xff\x00garbage")
            # a well-formed push from a peer the client never subscribed with
            await send_one_way(publisher.host, light.peer_id, (FILTER_PUSH,), encode_push(MessagePush(msg(CT), PS)))
            # and from the service, for a content topic it did not ask for
            await send_one_way(net.service.host, light.peer_id, (FILTER_PUSH,),
                               encode_push(MessagePush(msg("/filtertest/1/unasked/proto"), PS)))
            await wait_until(lambda: client.stats["pushes_unsolicited"] == 2
                             and client.pushes.stats.refusals["status_400"] == 1)
            # the same message pushed twice is delivered once
            twice = encode_push(MessagePush(msg(CT, b"twice"), PS))
            for _ in range(2):
                await send_one_way(net.service.host, light.peer_id, (FILTER_PUSH,), twice)
            await wait_until(lambda: client.stats["pushes_duplicate"] == 1)
            assert sub.receive_nowait().message.payload == b"twice"
        assert client.stats["pushes_received"] == 1
