"""Scenario kinds any two libp2p parties run: connect + identify + ping, echo, and gossipsub flows."""

from __future__ import annotations

import json
import time
from typing import Any

import trio

from interop.harness.parties import PING, Party
from interop.harness.run import Run, scenario
from w3msg_libp2p.testing.peer_process import PeerError

TOPIC = "/waku/2/rs/1/0"


async def connect_pair(a: Party, b: Party, figures: dict[str, Any], transport: str = "tcp") -> None:
    """``a`` dials ``b`` over ``transport`` (tcp | ws); the test-plans timings go to figures["dial"]."""
    figures["dial"] = await a.dial(b.address(transport))
    # the test-plans line a dialer prints
    print(json.dumps(figures["dial"]), flush=True)


@scenario("connect")
async def connect(run: Run) -> bool:
    a, b, params, figures = run.a, run.b, run.params, run.figures
    await connect_pair(a, b, figures, str(params.get("transport", "tcp")))
    a_knows, b_knows = await a.protocols_of(b.peer_id), await b.protocols_of(a.peer_id)
    figures["dialer_learnt"], figures["listener_learnt"] = a_knows, b_knows
    want = set(params.get("protocols", [str(PING)]))
    n = int(params.get("pings", 5))
    figures["ping_dialer_ms"] = await a.ping(b.peer_id, n)
    figures["ping_listener_ms"] = await b.ping(a.peer_id, n)
    return want <= set(a_knows) and want <= set(b_knows) and len(figures["ping_listener_ms"]) == n


@scenario("echo")
async def echo(run: Run) -> bool:
    a, b, params, figures = run.a, run.b, run.params, run.figures
    await connect_pair(a, b, figures, str(params.get("transport", "tcp")))
    size = int(params["size"])
    figures["dialer_echo"] = await a.echo(b.peer_id, size)
    figures["listener_echo"] = await b.echo(a.peer_id, size)
    return all(figures[k]["ok"] and figures[k]["bytes"] == size for k in ("dialer_echo", "listener_echo"))


async def flow(src: Party, dst: Party, topic: str, params: dict[str, Any]) -> dict[str, Any]:
    count, size, interval = int(params["count"]), int(params["size"]), int(params.get("interval_us", 0))
    before = dst.received()
    start = time.monotonic()
    sent, errors = await src.publish(topic, count, size, interval)
    with trio.move_on_after(float(params.get("deliver_timeout_s", 30))):
        while not set(sent) <= dst.received():
            await trio.sleep(0.05)
    elapsed = time.monotonic() - start
    delivered = len(set(sent) & (dst.received() - before))
    return {"published": len(sent), "publish_errors": len(errors), "first_errors": errors[:3],
            "delivered": delivered, "delivery": round(delivered / count, 4) if count else 1.0,
            "seconds": round(elapsed, 3), "msgs_per_s": round(delivered / elapsed, 1) if elapsed else None}


@scenario("gossipsub")
async def gossipsub(run: Run) -> bool:
    a, b, params, figures = run.a, run.b, run.params, run.figures
    topic = str(params.get("topic", TOPIC))
    await a.subscribe(topic)
    await b.subscribe(topic)
    await connect_pair(a, b, figures, str(params.get("transport", "tcp")))
    mesh_timeout = float(params.get("mesh_timeout_s", 15))
    try:
        await a.wait_mesh(topic, b.peer_id, mesh_timeout)
        await b.wait_mesh(topic, a.peer_id, mesh_timeout)
        figures["mesh"] = True
    except PeerError as exc:
        figures["mesh"] = False
        figures["mesh_error"] = str(exc).splitlines()[0]
    figures["dialer_to_listener"] = await flow(a, b, topic, params)
    figures["listener_to_dialer"] = await flow(b, a, topic, params)
    figures["dialer_stats"], figures["listener_stats"] = await a.stats(), await b.stats()
    want = float(params.get("expect_delivery", 1.0))
    return all(figures[k]["delivery"] >= want for k in ("dialer_to_listener", "listener_to_dialer"))
