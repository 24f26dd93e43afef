"""Scenario kinds for js-waku as a light client of our node (interop/peers/js-waku/light-client.mjs:
@waku/sdk createLightNode, WebSocket + Noise + mplex): lightpush, filter and store against our
service node, and the client exiting by itself.

Every kind opens our service node (the scenario's ``node`` object: its services and listeners;
autosharding on the content topic of ``params``), for the relay kinds a second relay node of ours
connected to it over TCP, and the js-waku client, which dials the service node's WebSocket address
(js-waku never listens: the only direction is peer_dials). Before the kind's own checks the session
checks (figures["session"]) must hold: the client negotiated /mplex/6.7.0 (our side holds an Mplex
connection), identify gave it our service protocols and it stored our metadata answer (cluster and
the content topic's shard). Message identity is the Waku message hash, hex."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import trio
from libp2p.peer.id import ID
from libp2p.stream_muxer.mplex.mplex import Mplex

from interop.harness.parties import NodeParty, PeerParty
from interop.harness.run import Run, scenario
from w3msg_libp2p.core.message import Envelope, WakuMessage
from w3msg_libp2p.core.topics import autoshard_pubsub_topic
from w3msg_libp2p.testing.peer_process import PeerError, PeerProcess

MPLEX = "/mplex/6.7.0"
METADATA = "/vac/waku/metadata/1.0.0"
SERVICE_PROTOCOLS = {"lightpush": "/vac/waku/lightpush/3.0.0", "filter": "/vac/waku/filter-subscribe/2.0.0-beta1",
                     "store": "/vac/waku/store-query/3.0.0"}


@dataclass
class Light:
    """One run's parties: our service node, our second relay node (None when not asked for) and
    the js-waku client process."""

    service: NodeParty
    relay: NodeParty | None
    client: PeerProcess
    content_topic: str
    pubsub_topic: str
    timeout: float

    def relay_node(self) -> NodeParty:
        if self.relay is None:
            raise PeerError("this scenario opened no second relay node")
        return self.relay


def _network(params: dict[str, Any]) -> dict[str, Any]:
    return {"cluster_id": int(params.get("cluster_id", 1)), "num_shards_in_cluster": int(params.get("num_shards", 8))}


async def _open_node(run: Run, mapping: dict[str, Any]) -> NodeParty:
    party = await run.open("node", node=mapping)
    assert isinstance(party, NodeParty)
    return party


async def _known(client: PeerProcess, peer_id: str, protocols: set[str], timeout: float) -> dict[str, Any]:
    """Until js-waku holds our identify and metadata answers (it picks service peers from them;
    wait_peers alone can return before identify, js-waku also resolves it on metadata)."""
    info: dict[str, Any] = {}
    with trio.move_on_after(timeout):
        while True:
            info = await client.command("peer_info", peer_id=peer_id)
            if protocols <= set(info.get("protocols", ())) and info.get("shard_info") is not None:
                return info
            await trio.sleep(0.1)
    raise PeerError(f"js-waku did not learn {sorted(protocols)} and our shard info within {timeout} s: {info}")


async def _open(run: Run, *, relay_peer: bool) -> Light:
    """Our service node (+ a relay node of ours meshed with it), then js-waku dialing its WS address;
    fills figures["session"] and raises when the client cannot pick our node as its service peer."""
    params, figures = run.params, run.figures
    ct, net, timeout = str(params["content_topic"]), _network(params), float(params.get("wait_s", 20))
    topic = autoshard_pubsub_topic(ct, net["cluster_id"], net["num_shards_in_cluster"])
    shards = {"shards": [], "content_topics": [ct], **net}  # relay only the content topic's shard
    mapping = {**run.spec.get("node", {}), **shards}
    services = [name for name in SERVICE_PROTOCOLS if name in mapping]
    service = await _open_node(run, mapping)
    relay = None
    if relay_peer:
        relay = await _open_node(run, shards)
        await relay.node.connect(service.address("tcp"))
        for party in (service, relay):
            assert party.node.relay is not None
            await party.node.relay.wait_for_mesh(topic, peers=1, timeout=timeout)
    client_party = await run.open("js-waku", extra=("--cluster-id", str(net["cluster_id"]),
                                                    "--num-shards", str(net["num_shards_in_cluster"])))
    assert isinstance(client_party, PeerParty)
    client = client_party.peer
    dialed = await client.command("dial", multiaddr=service.address("ws"))
    await client.command("wait_peers", protocols=services, timeout_ms=int(timeout * 1000))
    info = await _known(client, service.peer_id, {METADATA, *(SERVICE_PROTOCOLS[s] for s in services)}, timeout)
    conns = service.node.host.get_network().connections.get(ID.from_base58(client.peer_id), [])
    shard = int(topic.rsplit("/", 1)[1])
    session = figures["session"] = {
        "versions": client.ready.get("versions"), "dialed_peer": dialed["peer_id"] == service.peer_id,
        "muxer": dialed.get("muxer"), "encryption": dialed.get("encryption"),
        "our_side_mplex": bool(conns) and all(isinstance(c.muxed_conn, Mplex) for c in conns),
        "services_seen": sorted(set(info["protocols"]) & {METADATA, *SERVICE_PROTOCOLS.values()}),
        "shard_info": info["shard_info"],
        "shard_info_ok": info["shard_info"] == {"clusterId": net["cluster_id"], "shards": [shard]}}
    if not (session["dialed_peer"] and session["muxer"] == MPLEX and session["our_side_mplex"]
            and session["shard_info_ok"]):
        raise PeerError(f"js-waku session with our node is not as expected: {session}")
    return Light(service, relay, client, ct, topic, timeout)


async def _until(predicate: Any, timeout: float) -> bool:
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.05)
        return True
    return False


# -- lightpush -----------------------------------------------------------------------------------
def _push_ok(push: dict[str, Any], reply: dict[str, Any], env: Envelope | None) -> bool:
    """Our second node's relay delivered exactly what js-waku pushed, under js-waku's hash."""
    if env is None:
        return False
    m = env.message
    return (m.payload == push["payload"].encode() and m.content_topic == reply["content_topic"]
            and (m.meta or b"") == bytes.fromhex(push.get("meta") or "")
            and m.timestamp == int(reply["timestamp_ns"]))


@scenario("js-waku-lightpush", two_party=False)
async def js_waku_lightpush(run: Run) -> bool:
    """js-waku lightpushes each of params["pushes"] ({payload, meta}) to our service node; its send()
    succeeds with our node as the only peer, and our second node's relay delivers each message under
    the hash js-waku computed (meta included), with the same payload, content topic and timestamp."""
    light = await _open(run, relay_peer=True)
    relay = light.relay_node().node.relay
    assert relay is not None
    pushes = list(run.params["pushes"])
    delivered: dict[str, Envelope] = {}
    replies: list[dict[str, Any]] = []
    with relay.messages(pubsub_topic=light.pubsub_topic) as sub:
        for push in pushes:
            reply = await light.client.command("lightpush", content_topic=light.content_topic,
                                               payload=push["payload"].encode().hex(), meta=push.get("meta"))
            replies.append({**reply, "content_topic": light.content_topic})
        with trio.move_on_after(light.timeout):
            while not {r["hash"] for r in replies} <= set(delivered):
                env = await sub.receive()
                delivered[env.hash.hex()] = env
    accepted = [r for r in replies if r["successes"] == [light.service.peer_id] and r["failures"] == []
                and r["pubsub_topic"] == light.pubsub_topic]
    run.figures["lightpush"] = {
        "pushed": len(pushes), "with_meta": sum(1 for p in pushes if p.get("meta")),
        "accepted": len(accepted), "failures": [f for r in replies for f in r["failures"]][:3],
        "delivered_same_hash": sum(1 for r in replies if r["hash"] in delivered),
        "same_fields": sum(1 for p, r in zip(pushes, replies, strict=True)
                           if _push_ok(p, r, delivered.get(r["hash"])))}
    f = run.figures["lightpush"]
    return len(pushes) > 0 and f["accepted"] == f["delivered_same_hash"] == f["same_fields"] == len(pushes)


# -- filter --------------------------------------------------------------------------------------
async def _publish(relay: NodeParty, topic: str, msgs: list[WakuMessage], interval_s: float) -> list[str]:
    assert relay.node.relay is not None
    hashes = []
    for msg in msgs:
        hashes.append((await relay.node.relay.publish(topic, msg)).hex())
        await trio.sleep(interval_s)  # a steady stream, not a burst
    return hashes


@scenario("js-waku-filter", two_party=False)
async def js_waku_filter(run: Run) -> bool:
    """js-waku subscribes by filter at our service node. Our second node publishes one message on
    another content topic of the same shard, then params["count"] (more than the 100 push streams
    js-waku keeps open at once) on the subscribed one: js-waku receives exactly those, under our
    hashes, with their payload and topics, over the one connection. After unsubscribeAll our filter
    server holds no subscriber."""
    params, figures = run.params, run.figures
    light = await _open(run, relay_peer=True)
    client, topic, ct = light.client, light.pubsub_topic, light.content_topic
    other_ct = str(params["other_content_topic"])
    net = _network(params)
    if autoshard_pubsub_topic(other_ct, net["cluster_id"], net["num_shards_in_cluster"]) != topic:
        raise PeerError(f"{other_ct} is not on {topic}: the content-topic filtering check needs one shard")
    subscribed = await client.command("filter_subscribe", content_topic=ct)
    count, interval = int(params["count"]), float(params.get("interval_us", 5000)) / 1e6
    other = await _publish(light.relay_node(), topic, [
        WakuMessage(payload=b"not for the filter", content_topic=other_ct, timestamp=time.time_ns())], interval)
    payloads = {}
    wanted = []
    for i in range(count):
        msg = WakuMessage(payload=b"push %03d" % i, content_topic=ct, timestamp=time.time_ns())
        (h,) = await _publish(light.relay_node(), topic, [msg], interval)
        wanted.append(h)
        payloads[h] = msg.payload.hex()

    def got() -> dict[str, dict[str, Any]]:
        return {m["hash"]: m for m in client.messages if m.get("via") == "filter"}

    await _until(lambda: set(wanted) <= set(got()), float(params.get("deliver_timeout_s", 20)))
    await trio.sleep(float(params.get("quiet_s", 0.5)))  # room for anything that should not come
    received = got()
    connections = (await client.command("connections"))["connections"]
    await client.command("filter_unsubscribe_all")
    filter_service = light.service.node.filter
    assert filter_service is not None
    emptied = await _until(lambda: filter_service.statistics()["subscribers"] == 0, light.timeout)
    server = filter_service.statistics()
    figures["filter"] = {
        "subscribed": subscribed.get("ok") is True and subscribed.get("pubsub_topic") == topic,
        "published": len(wanted), "delivered_same_hash": len(set(wanted) & set(received)),
        "same_fields": sum(1 for h in wanted if h in received and received[h]["payload"] == payloads[h]
                           and (received[h]["pubsub_topic"], received[h]["content_topic"]) == (topic, ct)),
        "other_topic_delivered": len(set(other) & set(received)),
        "unexpected": len(set(received) - set(wanted)),
        "deliveries": sum(1 for m in client.messages if m.get("via") == "filter"),
        "client_connections": len(connections), "subscribers_after_unsubscribe_all": server["subscribers"],
        "server_pushes": server["pushes"]}
    f = figures["filter"]
    return (f["subscribed"] and f["published"] == count and f["delivered_same_hash"] == count
            and f["same_fields"] == count and f["other_topic_delivered"] == 0 and f["unexpected"] == 0
            and f["client_connections"] == 1 and emptied)


# -- store ---------------------------------------------------------------------------------------
def _pages(hashes: list[str], size: int, forward: bool) -> list[list[str]]:
    """The pages a store answers: forward from the oldest; backward the newest page first, each
    page in time order (as nwaku answers)."""
    if forward:
        return [hashes[i:i + size] for i in range(0, len(hashes), size)]
    return [hashes[max(0, end - size):end] for end in range(len(hashes), 0, -size)]


@scenario("js-waku-store", two_party=False)
async def js_waku_store(run: Run) -> bool:
    """Our second node publishes one message on another content topic and params["count"] on the
    queried one (whole-ms timestamps: js-waku reads Dates); our service node archives them. js-waku's
    store client pages through them params["page_size"] at a time, forward and backward, and gets
    exactly the expected pages; the first message has its payload, topics and timestamp."""
    params, figures = run.params, run.figures
    light = await _open(run, relay_peer=True)
    service, topic, ct = light.service.node, light.pubsub_topic, light.content_topic
    assert service.relay is not None and service.store is not None
    count, size = int(params["count"]), int(params["page_size"])
    base = time.time_ns() // 1_000_000 * 1_000_000 - 1_000_000_000
    msgs = [WakuMessage(payload=b"other topic", content_topic=str(params["other_content_topic"]),
                        timestamp=base + 500_000)]
    msgs += [WakuMessage(payload=b"history %02d" % i, content_topic=ct, timestamp=base + i * 1_000_000)
             for i in range(count)]
    with service.relay.messages(pubsub_topic=topic) as arrived:
        hashes = (await _publish(light.relay_node(), topic, msgs, 0))[1:]
        with trio.fail_after(light.timeout):
            for _ in msgs:
                await arrived.receive()
    await service.store.wait_idle()

    async def query(forward: bool) -> list[list[dict[str, Any]]]:
        reply = await light.client.command("store_query", content_topic=ct, page_size=size, forward=forward)
        return list(reply["pages"])

    fwd, back = await query(True), await query(False)
    first = fwd[0][0] if fwd and fwd[0] else {}
    figures["store"] = {
        "published": count, "page_size": size,
        "forward_pages": [len(p) for p in fwd], "backward_pages": [len(p) for p in back],
        "forward_exact": [[m["hash"] for m in p] for p in fwd] == _pages(hashes, size, True),
        "backward_exact": [[m["hash"] for m in p] for p in back] == _pages(hashes, size, False),
        "first_fields_ok": (first.get("payload") == b"history 00".hex() and first.get("pubsub_topic") == topic
                            and first.get("content_topic") == ct and int(first.get("timestamp_ns") or 0) == base)}
    f = figures["store"]
    return bool(f["forward_exact"] and f["backward_exact"] and f["first_fields_ok"])


# -- the client's own exit -----------------------------------------------------------------------
@scenario("js-waku-client-exit", two_party=False)
async def js_waku_client_exit(run: Run) -> bool:
    """With a filter subscription at our node, the client's stdin is closed: it unsubscribes, stops
    and exits 0 by itself (the harness never has to kill it)."""
    light = await _open(run, relay_peer=False)
    subscribed = await light.client.command("filter_subscribe", content_topic=light.content_topic)
    process = light.client.process
    assert process.stdin is not None
    start = time.monotonic()
    await process.stdin.aclose()
    with trio.move_on_after(float(run.params.get("exit_timeout_s", 20))):
        await process.wait()
    filter_service = light.service.node.filter
    run.figures["exit"] = {
        "subscribed": subscribed.get("ok") is True, "exit_code": process.returncode,
        "seconds": round(time.monotonic() - start, 2),
        # observed, not required: js-waku's unsubscribeAll at shutdown does not reach us before it
        # closes the connection (1 here); the subscription stays until our filter server expires it
        "subscribers_after_exit": None if filter_service is None else filter_service.statistics()["subscribers"]}
    if process.returncode != 0:
        run.figures["exit"]["log_tail"] = light.client.log_tail(10)
    return run.figures["exit"]["subscribed"] and process.returncode == 0
