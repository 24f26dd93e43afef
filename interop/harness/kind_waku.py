"""Scenario kinds for Waku with go-waku (interop/peers/go-waku): relay with identical message hashes,
go-waku's lightpush, filter and store v3 clients against our services, and peer exchange both ways.

The go-waku party is the PeerParty of a run; our node is the NodeParty. Message identity across the
two is the Waku message hash (w3msg_libp2p.core.message.message_hash / go-waku's msg.Hash), hex."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

import trio

from interop.harness.kind_libp2p import connect_pair
from interop.harness.parties import NodeParty, Party, PeerParty
from interop.harness.run import Run, scenario
from w3msg_libp2p.core.codec import encode_message
from w3msg_libp2p.core.enr import Enr
from w3msg_libp2p.core.message import WakuMessage, message_hash
from w3msg_libp2p.testing.peer_process import PeerError

TOPIC = "/waku/2/rs/1/0"
CONTENT_TOPIC = "/interop/1/go-waku/proto"


def _sides(run: Run) -> tuple[PeerParty, NodeParty]:
    """(go-waku, our node) of a two-party run, whichever dialed."""
    peer, node = (run.a, run.b) if isinstance(run.a, PeerParty) else (run.b, run.a)
    assert isinstance(peer, PeerParty) and isinstance(node, NodeParty)
    return peer, node


class NodeHashes:
    """Every message our node's relay delivers on TOPIC (from peers and our own publishes):
    Waku message hash (hex) -> sha256 of the message bytes as they came off the wire."""

    def __init__(self, node: NodeParty) -> None:
        self.node = node
        self.seen: dict[str, str | None] = {}

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        relay = self.node.node.relay
        assert relay is not None
        with relay.messages(pubsub_topic=TOPIC, buffer=100_000) as sub:
            task_status.started()
            async for env in sub:
                self.seen[env.hash.hex()] = hashlib.sha256(env.data).hexdigest() if env.data else None


async def _relay_pair(run: Run) -> tuple[PeerParty, NodeParty, NodeHashes]:
    """Both sides on TOPIC, connected in the run's direction, each in the other's mesh."""
    peer, node = _sides(run)
    hashes = NodeHashes(node)
    await node.nursery.start(hashes.run)
    await peer.subscribe(TOPIC)
    await node.subscribe(TOPIC)
    await connect_pair(run.a, run.b, run.figures)
    timeout = float(run.params.get("mesh_timeout_s", 15))
    await peer.wait_mesh(TOPIC, node.peer_id, timeout)
    await node.wait_mesh(TOPIC, peer.peer_id, timeout)
    return peer, node, hashes


async def _until(predicate: Callable[[], bool], timeout: float) -> bool:
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.05)
        return True
    return False


def _peer_hashes(peer: PeerParty, via: str = "relay") -> dict[str, str]:
    """Waku hash -> sha256 of the messages go-waku reported receiving ``via`` relay or filter."""
    return {m["hash"]: m.get("sha256", "") for m in peer.peer.messages if m.get("via") == via and "hash" in m}


async def _node_publish(node: NodeParty, count: int, size: int, interval_s: float, content_topic: str = CONTENT_TOPIC,
                        meta_size: int = 0) -> tuple[list[str], dict[str, str], list[str]]:
    """Our node publishes ``count`` messages on TOPIC: (hashes relay returned, hash we computed
    independently -> sha256 of the encoded message, errors). With ``meta_size``, every odd message
    carries meta (hashed) and ephemeral + version 0 (not hashed), as the go-waku peer does."""
    relay = node.node.relay
    assert relay is not None
    returned: list[str] = []
    computed: dict[str, str] = {}
    errors: list[str] = []
    for i in range(count):
        msg = WakuMessage(payload=secrets.token_bytes(size), content_topic=content_topic, timestamp=time.time_ns())
        if meta_size and i % 2:
            msg = dataclasses.replace(msg, meta=secrets.token_bytes(meta_size), ephemeral=True, version=0)
        try:
            returned.append((await relay.publish(TOPIC, msg)).hex())
            computed[message_hash(TOPIC, msg).hex()] = _encoded_sha(msg)
        except Exception as exc:  # every failure is counted and reported
            errors.append(f"{type(exc).__name__}: {exc}")
        await trio.sleep(interval_s)
    return returned, computed, errors


def _encoded_sha(msg: WakuMessage) -> str:
    return hashlib.sha256(encode_message(msg)).hexdigest()


# -- relay ---------------------------------------------------------------------------------------
@scenario("waku-relay")
async def waku_relay(run: Run) -> bool:
    """Relay both ways; go-waku's hash of each message equals ours, and the bytes are the same."""
    params, figures = run.params, run.figures
    peer, node, hashes = await _relay_pair(run)
    count, size, interval_us = int(params["count"]), int(params.get("size", 256)), int(params.get("interval_us", 2000))
    timeout, meta_size = float(params.get("deliver_timeout_s", 30)), int(params.get("meta_size", 0))

    start = time.monotonic()
    r = await peer.peer.command("publish", timeout=count + 60.0, topic=TOPIC, count=count, size=size,
                                interval_us=interval_us, content_topic=CONTENT_TOPIC, meta_size=meta_size)
    sent = {m["hash"]: m["sha256"] for m in r["messages"]}
    await _until(lambda: set(sent) <= set(hashes.seen), timeout)
    same_bytes = sum(1 for h, s in sent.items() if hashes.seen.get(h) == s)
    figures["go_waku_to_node"] = {
        "published": len(sent), "publish_errors": r["errors"][:3],
        "delivered_same_hash": len(set(sent) & set(hashes.seen)),
        "same_bytes": same_bytes, "seconds": round(time.monotonic() - start, 3)}

    start = time.monotonic()
    returned, computed, errors = await _node_publish(node, count, size, interval_us / 1e6, meta_size=meta_size)
    await _until(lambda: set(returned) <= set(_peer_hashes(peer)), timeout)
    got = _peer_hashes(peer)
    figures["node_to_go_waku"] = {
        "published": len(returned), "publish_errors": errors[:3],
        "returned_equals_computed": returned == list(computed),
        "same_bytes": sum(1 for h, s in computed.items() if got.get(h) == s),
        "delivered_same_hash": len(set(returned) & set(got)), "seconds": round(time.monotonic() - start, 3)}
    figures["go_waku_stats"] = {k: v for k, v in (await peer.peer.command("stats")).items()
                                if k in ("received", "published", "rejected", "duplicates", "dropped_rpcs")}
    a, b = figures["go_waku_to_node"], figures["node_to_go_waku"]
    figures["summary"] = (f"go-waku->node {a['delivered_same_hash']}/{count} same hash ({a['same_bytes']} same bytes), "
                          f"node->go-waku {b['delivered_same_hash']}/{count} same hash ({b['same_bytes']} same bytes)")
    return bool(a["published"] == count and a["delivered_same_hash"] == count and a["same_bytes"] == count
                and b["published"] == count and b["returned_equals_computed"] and b["delivered_same_hash"] == count
                and b["same_bytes"] == count)


# -- lightpush -----------------------------------------------------------------------------------
@scenario("waku-lightpush")
async def waku_lightpush(run: Run) -> bool:
    """go-waku lightpushes to our node; our node relays each one: it reaches our relay's subscribers
    and comes back to go-waku over relay, under the hash go-waku's lightpush computed."""
    params, figures = run.params, run.figures
    peer, node, hashes = await _relay_pair(run)
    count = int(params["count"])
    r = await peer.peer.command("lightpush", timeout=count * 2 + 30.0, peer_id=node.peer_id, topic=TOPIC,
                                content_topic=CONTENT_TOPIC, count=count, size=int(params.get("size", 256)),
                                interval_us=int(params.get("interval_us", 20000)))
    results = r["results"]
    pushed = {x["hash"] for x in results if x["ok"]}
    timeout = float(params.get("deliver_timeout_s", 20))
    await _until(lambda: pushed <= set(hashes.seen) and pushed <= set(_peer_hashes(peer)), timeout)
    lp = node.node.lightpush
    figures["lightpush"] = {
        "pushed": count, "accepted": len(pushed), "errors": [x["error"] for x in results if not x["ok"]][:3],
        "at_our_relay": len(pushed & set(hashes.seen)), "back_at_go_waku": len(pushed & set(_peer_hashes(peer))),
        "server": lp.statistics() if lp is not None else None}
    f = figures["lightpush"]
    figures["summary"] = (f"lightpush {f['accepted']}/{count} accepted, {f['at_our_relay']} at our relay, "
                          f"{f['back_at_go_waku']} relayed back to go-waku (same hashes)")
    return bool(f["accepted"] == count and f["at_our_relay"] == count and f["back_at_go_waku"] == count)


# -- filter --------------------------------------------------------------------------------------
@scenario("waku-filter")
async def waku_filter(run: Run) -> bool:
    """go-waku's filter client subscribes at our filter server; every message our relay carries on
    the content topic is pushed (more than 100: the push path holds up over time); ping; after
    unsubscribe nothing more is pushed and a ping is refused."""
    params, figures = run.params, run.figures
    peer, node, _ = await _relay_pair(run)
    count, interval = int(params["count"]), float(params.get("interval_us", 80000)) / 1e6
    ct = CONTENT_TOPIC
    await peer.peer.command("filter_subscribe", peer_id=node.peer_id, topic=TOPIC, content_topics=[ct])
    start = time.monotonic()
    sent, _, errors = await _node_publish(node, count, 128, interval, ct)
    other, _, _ = await _node_publish(node, 5, 128, interval, "/interop/1/not-subscribed/proto")

    def pushed() -> set[str]:
        return set(_peer_hashes(peer, "filter"))

    await _until(lambda: set(sent) <= pushed(), float(params.get("deliver_timeout_s", 20)))
    got = pushed()
    figures["filter"] = {"published": len(sent), "publish_errors": errors[:3], "pushed": len(set(sent) & got),
                         "other_topic_pushed": len(set(other) & got),
                         "all_pushed_after_s": round(time.monotonic() - start, 2)}
    start = time.monotonic()
    await peer.peer.command("filter_ping", peer_id=node.peer_id)
    figures["filter"]["ping_ms"] = round((time.monotonic() - start) * 1000, 2)
    unsub = await peer.peer.command("filter_unsubscribe", peer_id=node.peer_id, topic=TOPIC, content_topics=[ct])
    figures["filter"]["unsubscribe_errors"] = unsub.get("errors")
    after, _, _ = await _node_publish(node, 5, 128, interval, ct)
    await trio.sleep(float(params.get("quiet_s", 2)))
    figures["filter"]["pushed_after_unsubscribe"] = len(set(after) & pushed())
    try:
        await peer.peer.command("filter_ping", peer_id=node.peer_id)
        figures["filter"]["ping_after_unsubscribe"] = "accepted"
    except PeerError as exc:
        figures["filter"]["ping_after_unsubscribe"] = str(exc).splitlines()[0][-80:]
    assert node.node.filter is not None
    server = node.node.filter.statistics()
    figures["filter"]["server"] = {k: server[k] for k in ("pushes", "push_streams", "requests", "responses",
                                                         "refusals")}
    f = figures["filter"]
    refused = f["ping_after_unsubscribe"] != "accepted"
    figures["summary"] = (f"filter pushed {f['pushed']}/{count} in {f['all_pushed_after_s']} s (stream per push: "
                          f"{server['push_streams']['per_push']}), ping {f['ping_ms']} ms, after unsubscribe: "
                          f"{f['pushed_after_unsubscribe']} pushed, ping refused: {refused}")
    return (f["published"] == count and f["pushed"] == count and f["other_topic_pushed"] == 0
            and not f["unsubscribe_errors"] and f["pushed_after_unsubscribe"] == 0
            and f["ping_after_unsubscribe"] != "accepted")


# -- store ---------------------------------------------------------------------------------------
@scenario("waku-store")
async def waku_store(run: Run) -> bool:
    """Messages go-waku publishes on relay are archived by our store; go-waku's store v3 client
    pages through them forward and backward and finds them by hash."""
    params, figures = run.params, run.figures
    peer, node, hashes = await _relay_pair(run)
    count, page = int(params["count"]), int(params.get("page_size", 10))
    r = await peer.peer.command("publish", timeout=count + 60.0, topic=TOPIC, count=count, size=200,
                                interval_us=int(params.get("interval_us", 20000)), content_topic=CONTENT_TOPIC)
    published = [m["hash"] for m in r["messages"]]
    await _until(lambda: set(published) <= set(hashes.seen), 20)
    assert node.node.store is not None
    await node.node.store.wait_idle()

    async def query(**fields: Any) -> dict[str, Any]:
        return await peer.peer.command("store_query", peer_id=node.peer_id, topic=TOPIC,
                                       content_topics=[CONTENT_TOPIC], page_size=page, **fields)

    fwd, back = await query(forward=True), await query(forward=False)
    pick = [published[0], published[count // 2], published[-1]]
    by_hash = await query(hashes=pick, include_data=True)
    unknown = await query(hashes=[secrets.token_hex(32)], include_data=True)

    def summary(res: dict[str, Any]) -> dict[str, Any]:
        return {"pages": [p["count"] for p in res["pages"]], "messages": len(res["messages"]),
                "hash_ok": all(m.get("hash_ok", False) for m in res["messages"]), "ms": res["ms"]}

    fwd_order = [m["hash"] for m in fwd["messages"]]
    # backward (as nwaku): the newest page first, each page's messages oldest first
    back_order = [h for p in reversed(back["pages"]) for h in p["hashes"]]
    figures["store"] = {
        "published": len(published), "forward": summary(fwd), "backward": summary(back),
        "forward_in_publish_order": fwd_order == published, "backward_newest_page_first": back_order == published,
        "by_hash": sorted(m["hash"] for m in by_hash["messages"]) == sorted(pick),
        "by_hash_hash_ok": summary(by_hash)["hash_ok"], "unknown_hash_results": len(unknown["messages"])}
    f = figures["store"]
    pages = -(-count // page)
    figures["summary"] = (f"store {len(fwd_order)}/{count} forward in {len(f['forward']['pages'])} pages "
                          f"(order ok: {f['forward_in_publish_order']}), backward {len(back_order)} "
                          f"(order ok: {f['backward_newest_page_first']}), by hash ok: {f['by_hash']}")
    return (f["published"] == count and f["forward_in_publish_order"] and f["backward_newest_page_first"]
            and len(f["forward"]["pages"]) >= pages and len(f["backward"]["pages"]) >= pages
            and f["forward"]["hash_ok"] and f["by_hash"] and f["by_hash_hash_ok"] and f["unknown_hash_results"] == 0)


# -- peer exchange -------------------------------------------------------------------------------
def _enr_summary(enr: Enr) -> dict[str, Any]:
    return {"peer_id": enr.peer_id, "ip": enr.ip, "tcp": enr.tcp, "udp": enr.udp}


async def _dial(dialer: Party, listener: Party) -> None:
    await dialer.dial(listener.address("tcp"))


@scenario("waku-peer-exchange", two_party=False)
async def waku_peer_exchange(run: Run) -> bool:
    """Three go-waku peers and our node. B runs discv5 alone; A runs discv5 with B as bootnode, so
    A's peer-exchange cache (go-waku fills it from discv5 only) holds B. Our node asks A and must
    learn B's record. Then C, a go-waku without discv5, asks our node and must learn B from us.
    peer_dials: the go-waku peers dial our node; other_dials: our node dials them."""
    params, figures = run.params, run.figures
    node = await run.open("node")
    assert isinstance(node, NodeParty) and node.node.peer_exchange is not None
    b = await run.open("go-waku", extra=("--discv5",))
    assert isinstance(b, PeerParty)
    a = await run.open("go-waku", extra=("--discv5", "--bootnode", str(b.peer.ready["enr"])))
    assert isinstance(a, PeerParty)
    c = await run.open("go-waku")
    assert isinstance(c, PeerParty)
    b_port = int(b.address("tcp").split("/")[4])
    peer_dials = run.direction == "peer_dials"

    # our node asks A (retrying while A's discv5 has not found B yet; go-waku allows 1 request/s)
    await (_dial(a, node) if peer_dials else _dial(node, a))
    learnt: list[Enr] = []
    tries, start = 0, time.monotonic()
    with trio.move_on_after(float(params.get("discovery_timeout_s", 30))):
        while not any(e.peer_id == b.peer_id for e in learnt):
            tries += 1
            try:
                learnt = await node.node.peer_exchange.request(a.peer_id, 5)
            except Exception as exc:  # rate limited or empty: counted, retried
                figures.setdefault("node_asks_errors", []).append(f"{type(exc).__name__}: {exc}"[:120])
            await trio.sleep(1.5)
    got_b = [e for e in learnt if e.peer_id == b.peer_id]
    figures["node_asks_go_waku"] = {
        "tries": tries, "seconds": round(time.monotonic() - start, 2),
        "learnt": [_enr_summary(e) for e in learnt],
        "b_record_ok": bool(got_b) and got_b[0].ip == "127.0.0.1" and got_b[0].tcp == b_port}

    # C asks our node, which now holds B's record
    await (_dial(c, node) if peer_dials else _dial(node, c))
    r = await c.peer.command("px_request", peer_id=node.peer_id, count=5, timeout_ms=10000)
    learnt_by_c = {p["peer_id"]: p for p in r["peers"]}
    b_entry = learnt_by_c.get(b.peer_id, {})
    figures["go_waku_asks_node"] = {
        "learnt": sorted(learnt_by_c), "b_multiaddrs": b_entry.get("multiaddrs", []),
        "b_ok": any(addr.startswith(f"/ip4/127.0.0.1/tcp/{b_port}") for addr in b_entry.get("multiaddrs", []))}
    figures["server"] = node.node.peer_exchange.core.stats.as_dict()
    figures["parties"] = "go-waku(A,C)->node" if peer_dials else "node->go-waku(A,C)"
    figures["summary"] = (f"node learnt B from go-waku A: {figures['node_asks_go_waku']['b_record_ok']} "
                          f"({tries} tries, {figures['node_asks_go_waku']['seconds']} s); go-waku C learnt B "
                          f"from node: {figures['go_waku_asks_node']['b_ok']}")
    return bool(figures["node_asks_go_waku"]["b_record_ok"] and figures["go_waku_asks_node"]["b_ok"])


# -- our light client against go-waku's services -------------------------------------------------
@scenario("waku-light-client", two_party=False)
async def waku_light_client(run: Run) -> bool:
    """Our light node (no relay) uses go-waku G as its service peer: filter-subscribes there and
    gets what G's relay carries, lightpushes through G (v2, all go-waku serves) and the messages
    reach our relay node N, G's relay peer; ping; after unsubscribe G pushes nothing more."""
    params, figures = run.params, run.figures
    interval = float(params.get("interval_us", 20000)) / 1e6
    g = await run.open("go-waku")
    n = await run.open("node", node={})
    assert isinstance(g, PeerParty) and isinstance(n, NodeParty)
    hashes = NodeHashes(n)
    await n.nursery.start(hashes.run)
    await g.subscribe(TOPIC)
    await n.subscribe(TOPIC)
    await n.dial(g.address("tcp"))
    await g.wait_mesh(TOPIC, n.peer_id, 15)
    light = await run.open("node", node={"light": True, "service_peers": [g.address("tcp")]})
    assert isinstance(light, NodeParty) and light.node.light is not None
    client = light.node.light
    figures["parties"] = "node(light)->go-waku<-node"

    async def g_publish(count: int) -> list[str]:
        r = await g.peer.command("publish", timeout=count + 30.0, topic=TOPIC, count=count, size=128,
                                 interval_us=int(interval * 1e6), content_topic=CONTENT_TOPIC)
        return [m["hash"] for m in r["messages"]]

    count = int(params.get("count", 30))
    got: set[str] = set()
    with client.filter.messages(TOPIC, [CONTENT_TOPIC]) as sub:

        async def collect() -> None:
            async for env in sub:
                got.add(env.hash.hex())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            await client.subscribe([CONTENT_TOPIC], TOPIC)
            sent = await g_publish(count)
            await _until(lambda: set(sent) <= got, float(params.get("deliver_timeout_s", 20)))
            figures["filter"] = {"published_by_go_waku": len(sent), "pushed_same_hash": len(set(sent) & got)}
            await client.filter.ping(g.peer_id)
            await client.unsubscribe([CONTENT_TOPIC], TOPIC)
            after = await g_publish(5)
            await trio.sleep(float(params.get("quiet_s", 2)))
            figures["filter"]["pushed_after_unsubscribe"] = len(set(after) & got)
            nursery.cancel_scope.cancel()

    pushed, errors = [], []
    lp_interval = float(params.get("lightpush_interval_us", 1_100_000)) / 1e6  # go-waku serves 1 push/s a peer
    for i in range(int(params.get("lightpush_count", 5))):
        msg = WakuMessage(payload=b"light %d" % i, content_topic=CONTENT_TOPIC, timestamp=time.time_ns())
        try:
            pushed.append((await client.publish(msg, TOPIC)).hex())
        except Exception as exc:  # every refusal is counted and reported
            errors.append(f"{type(exc).__name__}: {exc}")
        await trio.sleep(lp_interval)
    await _until(lambda: set(pushed) <= set(hashes.seen), float(params.get("deliver_timeout_s", 20)))
    figures["lightpush"] = {"accepted": len(pushed), "errors": errors[:3],
                            "at_our_relay_same_hash": len(set(pushed) & set(hashes.seen)),
                            "client": client.lightpush.statistics()}
    f, lp = figures["filter"], figures["lightpush"]
    n_lp = int(params.get("lightpush_count", 5))
    figures["summary"] = (f"go-waku filter pushed {f['pushed_same_hash']}/{count} to our light client, "
                          f"{f['pushed_after_unsubscribe']} after unsubscribe; our lightpush via go-waku "
                          f"{lp['accepted']}/{n_lp} accepted, {lp['at_our_relay_same_hash']} reached our relay")
    return bool(f["pushed_same_hash"] == count and f["pushed_after_unsubscribe"] == 0
                and lp["accepted"] == n_lp and lp["at_our_relay_same_hash"] == n_lp)
