"""Filter v2 between real nodes: a relay + filter service node, light nodes with relay off."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from libp2p.peer.id import ID

from w3msg_libp2p.core.message import message_hash
from w3msg_libp2p.node.node import open_node
from w3msg_libp2p.node.service_config import FilterConfig
from w3msg_libp2p.protocols.filter.client import FilterClient, FilterError

from ..conftest import local_config
from .conftest import CT, CT2, CT3, PS, filter_net, msg, receive, wait_until


async def test_pushes_only_matching_messages_until_unsubscribed(tmp_path: Path) -> None:
    async with filter_net(tmp_path) as net:
        light, client = await net.light("light")
        assert light.relay is None
        await client.subscribe(net.service_addr, [CT, CT3], PS)
        with client.messages() as everything, client.messages(content_topics=[CT3]) as only_ct3:
            sent = await net.publish(msg(CT2, b"not for us"))
            sent = await net.publish(msg(CT, b"first"))
            env = await receive(everything)
            assert (env.message.payload, env.pubsub_topic, env.hash) == (b"first", PS, sent)
            assert env.hash == message_hash(PS, env.message) and env.received_from == net.service.peer_id
            await net.publish(msg(CT3, b"third"))
            assert (await receive(everything)).message.payload == b"third"
            assert (await receive(only_ct3)).message.payload == b"third"

            await client.unsubscribe(net.service.peer_id, [CT], PS)
            await net.publish(msg(CT, b"after unsubscribe"))
            await net.publish(msg(CT3, b"sentinel"))
            # pushes to one peer go out in order: the sentinel arriving means nothing came before it
            assert (await receive(everything)).message.payload == b"sentinel"
            with pytest.raises(trio.WouldBlock):
                everything.receive_nowait()
        pushes = net.service.filter.pushes  # counted once the push stream is closed: may lag delivery
        await wait_until(lambda: pushes["sent"] == 3)
        assert net.service.statistics()["filter"]["pushes"] == {"sent": 3, "failed": 0, "dropped": 0}
        assert client.stats["pushes_unsolicited"] == 0 and client.stats["pushes_received"] == 3


async def test_ping_is_200_when_subscribed_and_404_when_not(tmp_path: Path) -> None:
    async with filter_net(tmp_path) as net:
        _, client = await net.light("light")
        with pytest.raises(FilterError) as info:
            await client.ping(net.service_addr)
        assert info.value.status_code == 404
        assert info.value.description == "NOT_FOUND: peer has no subscriptions"
        await client.subscribe(net.service.peer_id, [CT], PS)
        await client.ping(net.service.peer_id)
        await client.unsubscribe_all(net.service.peer_id)
        with pytest.raises(FilterError) as info:
            await client.ping(net.service.peer_id)
        assert info.value.status_code == 404
        with pytest.raises(FilterError) as info:
            await client.unsubscribe_all(net.service.peer_id)
        assert info.value.status_code == 404
        assert net.service.statistics()["filter"]["responses"] == {404: 3, 200: 3}


async def test_autosharding_when_no_pubsub_topic_is_given(tmp_path: Path) -> None:
    async with filter_net(tmp_path) as net:
        _, client = await net.light("light")
        await client.subscribe(net.service_addr, [CT])
        assert client.criteria(net.service.peer_id) == {(PS, CT)}
        with client.messages(pubsub_topic=PS) as sub:
            await net.publish(msg(CT))
            assert (await receive(sub)).message.content_topic == CT


async def test_limits_101_topics_is_400_and_too_many_peers_is_503(tmp_path: Path) -> None:
    async with filter_net(tmp_path, FilterConfig(max_peers=1)) as net:
        _, first = await net.light("first")
        _, second = await net.light("second")
        too_many = [f"/filtertest/1/t{i}/proto" for i in range(101)]
        with pytest.raises(FilterError) as info:
            await first.subscribe(net.service_addr, too_many, PS)
        assert (info.value.status_code, info.value.description) == (
            400, "BAD_REQUEST: exceeds maximum content topics: 100")
        assert not first.criteria(net.service.peer_id)  # a refused subscription is not kept
        await first.subscribe(net.service_addr, too_many[:100], PS)
        with pytest.raises(FilterError) as info:
            await second.subscribe(net.service_addr, [CT], PS)
        assert info.value.status_code == 503
        assert info.value.description == "SERVICE_UNAVAILABLE: node has reached maximum number of subscriptions: 1"
        stats = net.service.statistics()["filter"]
        assert stats["refusals"] == {"too_many_content_topics": 1, "too_many_peers": 1}
        assert (stats["subscribers"], stats["criteria"]) == (1, 100)


async def test_subscriptions_expire_when_pings_stop(tmp_path: Path) -> None:
    async with filter_net(tmp_path, FilterConfig(subscription_timeout=1.0)) as net:
        _, pinging = await net.light("pinging", ping_interval=0.25)
        _, silent = await net.light("silent", ping_interval=3600)
        await pinging.subscribe(net.service_addr, [CT], PS)
        await silent.subscribe(net.service_addr, [CT], PS)
        filter_service = net.service.filter
        assert len(filter_service.server.table) == 2
        await wait_until(lambda: len(filter_service.server.table) == 1)
        assert net.service.statistics()["filter"]["expired"] == 1
        await trio.sleep(1.5)  # longer than the timeout: only pings keep the first one alive
        assert len(filter_service.server.table) == 1
        with pytest.raises(FilterError) as info:
            await silent.ping(net.service.peer_id)
        assert info.value.status_code == 404
        await pinging.ping(net.service.peer_id)
        with pinging.messages() as sub:
            await net.publish(msg(CT))
            await receive(sub)
        await wait_until(lambda: filter_service.pushes["sent"] == 1)
        stats = net.service.statistics()["filter"]
        assert stats["pushes"] == {"sent": 1, "failed": 0, "dropped": 0}  # none to the expired one
        assert stats["push_queues"] == 1


async def test_pushes_use_the_connection_the_client_opened(tmp_path: Path) -> None:
    async with filter_net(tmp_path) as net:
        light, client = await net.light("light")
        await client.subscribe(net.service_addr, [CT], PS)
        # the service forgets how to dial the client: only the client's own connection is left
        net.service.host.get_peerstore().clear_addrs(ID.from_base58(light.peer_id))
        conns = net.service.host.get_network().connections[ID.from_base58(light.peer_id)]
        assert len(conns) == 1
        with client.messages() as sub:
            await net.publish(msg(CT))
            await receive(sub)
        assert net.service.host.get_network().connections[ID.from_base58(light.peer_id)] == conns


async def test_client_resubscribes_after_the_service_node_restarts(tmp_path: Path) -> None:
    service_cfg = local_config(tmp_path, "service", filter=FilterConfig())
    async with open_node(local_config(tmp_path, "light", relay=None)) as light, \
            open_node(local_config(tmp_path, "publisher")) as publisher, trio.open_nursery() as nursery:
        client = FilterClient(light.host, ping_interval=3600)  # no ping will come soon: the disconnect must do
        await nursery.start(client.run)
        async with open_node(service_cfg) as service:
            service_addr, service_id = service.listen_addrs()[0], service.peer_id
            await client.subscribe(service_addr, [CT, CT2], PS)
            assert service.filter.server.table.criteria(light.peer_id) == {(PS, CT), (PS, CT2)}
        # same data dir (same identity), same port: the peer the client knows comes back empty
        port = service_addr.split("/tcp/")[1].split("/")[0]
        async with open_node(service_cfg.with_overrides(listen=(f"/ip4/127.0.0.1/tcp/{port}",))) as service:
            assert service.peer_id == service_id
            table = service.filter.server.table
            await wait_until(lambda: table.criteria(light.peer_id) == {(PS, CT), (PS, CT2)}, timeout=30)
            await publisher.connect(service.listen_addrs()[0])
            assert publisher.relay is not None
            await publisher.relay.wait_for_mesh(PS)
            with client.messages() as sub:
                await publisher.relay.publish(PS, msg(CT2, b"after restart"))
                assert (await receive(sub)).message.payload == b"after restart"
        assert client.stats["resubscriptions"] >= 1
        nursery.cancel_scope.cancel()


async def test_client_resubscribes_when_the_service_forgot_it(tmp_path: Path) -> None:
    async with filter_net(tmp_path) as net:
        light, client = await net.light("light", ping_interval=0.2)
        await client.subscribe(net.service_addr, [CT], PS)
        table = net.service.filter.server.table
        table.remove_peer(light.peer_id)  # as after an expiry: the next ping gets 404
        await wait_until(lambda: table.criteria(light.peer_id) == {(PS, CT)})
        assert client.stats["resubscriptions"] == 1
        assert client.stats["refused_404"] == 1


async def test_failed_pushes_are_counted(tmp_path: Path) -> None:
    async with filter_net(tmp_path) as net:
        async with open_node(local_config(tmp_path, "gone", relay=None)) as gone:
            client = FilterClient(gone.host)
            await client.subscribe(net.service_addr, [CT], PS)
        await net.publish(msg(CT))  # the subscriber is gone and cannot be dialed
        filter_service = net.service.filter
        await wait_until(lambda: filter_service.pushes["failed"] == 1, timeout=20)
        assert filter_service.pushes["sent"] == 0
