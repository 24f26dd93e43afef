"""The mixed mesh: our node(s) and go, rust and js peers on one topic, connected so that messages must be
relayed across implementations; every member publishes and every message must reach every other member.

Scenario params: ``members`` (party kinds in order, "node" = our node), ``links`` (pairs ``[i, j]`` or
``[i, j, transport]``: member i dials member j; default a ring), ``topic``, ``count`` (messages per
member), ``size``, ``interval_us``, ``mesh_timeout_s``, ``deliver_timeout_s``. The scenario's ``mode``
(waku | libp2p) is every member's gossipsub configuration."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import trio

from interop.harness.parties import NodeParty, Party, PeerParty
from interop.harness.run import Run, scenario
from w3msg_libp2p.testing.peer_process import PeerError

TOPIC = "/waku/2/rs/1/0"


def ring(n: int) -> list[list[Any]]:
    return [[i, (i + 1) % n] for i in range(n)]


def mesh_links(params: dict[str, Any], n: int) -> list[tuple[int, int, str]]:
    links = [(int(link[0]), int(link[1]), str(link[2]) if len(link) > 2 else "tcp")
             for link in params.get("links", ring(n))]
    for i, j, _ in links:
        if not (0 <= i < n and 0 <= j < n and i != j):
            raise ValueError(f"mesh link {i}-{j} does not join two of the {n} members")
    return links


def connected(n: int, links: list[tuple[int, int, str]]) -> bool:
    """Whether the links join all ``n`` members into one component."""
    reach, frontier = {0}, [0]
    while frontier:
        i = frontier.pop()
        for a, b, _ in links:
            for x, y in ((a, b), (b, a)):
                if x == i and y not in reach:
                    reach.add(y)
                    frontier.append(y)
    return len(reach) == n


async def _wait_link_meshes(members: list[Party], links: list[tuple[int, int, str]], topic: str,
                            timeout: float) -> list[str]:
    """Wait until both ends of every link have each other in their mesh; the link ends that did not.

    One wait at a time: PeerProcess.command is not safe for concurrent commands to one peer, and once
    the meshes have formed the later waits return at once."""
    missing: list[str] = []
    deadline = trio.current_time() + timeout
    for i, j, _ in links:
        for x, y in ((i, j), (j, i)):
            try:
                await members[x].wait_mesh(topic, members[y].peer_id, max(0.1, deadline - trio.current_time()))
            except PeerError:
                missing.append(f"{x}->{y}")
    return missing


async def _member_stats(party: Party, names: dict[str, str]) -> dict[str, Any]:
    """What gossipsub did at this member: duplicates it dropped, refusals (by reason, and by the member
    that sent the refused message), RPCs it could not send."""
    if isinstance(party, PeerParty):
        s = await party.stats()
        meshes = s.get("mesh") or {}
        senders = Counter(names.get(str(e.get("from")), str(e.get("from"))) for e in party.peer.rejected)
        # a peer that does not count something reports null (the rust peer: duplicates, rejected)
        return {"duplicates": s.get("duplicates"), "rejected": s.get("rejected"), "rejected_from": dict(senders),
                "dropped_rpcs": s.get("dropped_rpcs") or 0, "mesh": sorted(len(v) for v in meshes.values()),
                "app_deliveries": len(party.peer.messages)}
    assert isinstance(party, NodeParty)
    pubsub = getattr(party, "pubsub", None)  # NodePubsubParty (libp2p mode) runs plain gossipsub
    router = pubsub.router if pubsub is not None else party.node.relay.router  # type: ignore[union-attr]
    st = router.stats
    return {"duplicates": st.duplicates, "rejected": {k: n for k, n in st.drops.items() if k.startswith("rejected:")},
            "drops": dict(st.drops), "forwarded": st.messages_forwarded, "delivered": st.messages_delivered}


async def _publish_all(members: list[Party], topic: str, params: dict[str, Any]) -> list[tuple[list[str], list[str]]]:
    """Every member publishes ``count`` messages, all at the same time."""
    out: list[tuple[list[str], list[str]]] = [([], [])] * len(members)
    count, size, interval = int(params["count"]), int(params["size"]), int(params.get("interval_us", 0))

    async def one(i: int) -> None:
        out[i] = await members[i].publish(topic, count, size, interval)

    async with trio.open_nursery() as nursery:
        for i in range(len(members)):
            nursery.start_soon(one, i)
    return out


def _want(published: list[tuple[list[str], list[str]]], i: int) -> set[str]:
    """What member ``i`` must receive: everything the others published."""
    return {h for j, (sent, _) in enumerate(published) if j != i for h in sent}


async def _await_delivery(members: list[Party], wants: list[set[str]], timeout: float,
                          start: float) -> list[float | None]:
    """Seconds (since ``start``) until each member had all it wants; None for members that never did."""
    done: list[float | None] = [None] * len(members)
    with trio.move_on_after(timeout):
        while any(d is None for d in done):
            for i, m in enumerate(members):
                if done[i] is None and wants[i] <= m.received():
                    done[i] = round(time.monotonic() - start, 3)
            await trio.sleep(0.05)
    return done


@scenario("mesh", two_party=False)
async def mesh(run: Run) -> bool:
    params, figures = run.params, run.figures
    kinds = [str(k) for k in params["members"]]
    links = mesh_links(params, len(kinds))
    if not connected(len(kinds), links):
        raise ValueError(f"mesh links {links} leave members unconnected")
    topic = str(params.get("topic", TOPIC))
    members = [await run.open(k) for k in kinds]
    names = [f"{i}:{k}" for i, k in enumerate(kinds)]
    figures["members"] = {n: m.peer_id for n, m in zip(names, members, strict=True)}
    figures["links"] = [f"{names[i]}->{names[j]}/{t}" for i, j, t in links]
    for m in members:
        await m.subscribe(topic)
    for i, j, transport in links:
        await members[i].dial(members[j].address(transport))
    figures["mesh_missing"] = await _wait_link_meshes(members, links, topic, float(params.get("mesh_timeout_s", 20)))

    start = time.monotonic()
    sent = await _publish_all(members, topic, params)
    wants = [_want(sent, i) for i in range(len(members))]
    done = await _await_delivery(members, wants, float(params.get("deliver_timeout_s", 60)), start)
    figures["seconds"] = round(time.monotonic() - start, 3)
    per_member = {}
    by_id = {m.peer_id: name for name, m in zip(names, members, strict=True)}
    for i, (name, m) in enumerate(zip(names, members, strict=True)):
        got = len(wants[i] & m.received())
        per_member[name] = {"published": len(sent[i][0]), "publish_errors": len(sent[i][1]),
                            "first_errors": sent[i][1][:2], "expected": len(wants[i]), "received": got,
                            "delivery": round(got / len(wants[i]), 4) if wants[i] else 1.0,
                            "all_in_s": done[i], **await _member_stats(m, by_id)}
    figures["per_member"] = per_member
    total_sent = sum(len(s) for s, _ in sent)
    figures["total"] = {"published": total_sent, "expected_deliveries": sum(len(w) for w in wants),
                        "deliveries": sum(v["received"] for v in per_member.values()),
                        "duplicates_dropped": sum(v["duplicates"] or 0 for v in per_member.values()),
                        "deliveries_per_s": round(sum(v["received"] for v in per_member.values())
                                                  / figures["seconds"], 1) if figures["seconds"] else None}
    # every message everywhere, and no member refused a message another member sent (go-libp2p-pubsub,
    # for one, penalises the sender of each refused message)
    refused = {n: v["rejected"] for n, v in per_member.items() if v["rejected"]}
    figures["refused"] = refused
    want_published = len(members) * int(params["count"])
    figures["parties"] = "+".join(names)
    slowest = max((d for d in done if d is not None), default=None)
    figures["summary"] = (f"{figures['total']['deliveries']}/{figures['total']['expected_deliveries']} deliveries, "
                          f"all in {slowest} s, {figures['total']['duplicates_dropped']} duplicates dropped, "
                          f"refused {sum(sum(r.values()) for r in refused.values()) if refused else 0}")
    return (total_sent == want_published and not figures["mesh_missing"] and not refused
            and all(d is not None for d in done))
