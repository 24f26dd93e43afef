"""The js-libp2p peer (interop/peers/js/relay-peer.mjs) as harness kind "js": its two gossipsub
configurations and the counters the scenarios' figures rest on. The js scenarios themselves
(interop/scenarios/js-*.json, mesh-*.json) run in test_scenarios.py with every other scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
import trio

from interop.harness.parties import PeerParty
from interop.harness.peers import PEERS, peer_process

pytestmark = pytest.mark.interop

TOPIC = "/waku/2/rs/1/0"
Start = Callable[..., Awaitable[PeerParty]]


@pytest.fixture
def js_dir(build_peer_or_skip: Callable[[str], float], tmp_path: Path) -> Path:
    build_peer_or_skip("js")
    return tmp_path


@asynccontextmanager
async def js_peers(log_dir: Path) -> AsyncIterator[Start]:
    """Starts js peers (``mode``, extra argv) in the test's own task; all stopped when the block ends."""
    async with AsyncExitStack() as stack:
        count = 0

        async def start(mode: str, *extra: str) -> PeerParty:
            nonlocal count
            count += 1
            proc = await stack.enter_async_context(peer_process("js", mode, log_dir / f"js-{count}.log", extra))
            return PeerParty(proc)

        yield start


async def test_libp2p_mode_is_the_library_defaults(js_dir: Path) -> None:
    async with js_peers(js_dir) as js:
        ready = (await js("libp2p")).peer.ready
    assert ready["mode"] == "libp2p"
    assert ready["config"]["globalSignaturePolicy"] == "StrictSign"
    assert ready["config"]["protocols"] == ["/meshsub/1.2.0", "/meshsub/1.1.0", "/meshsub/1.0.0", "/floodsub/1.0.0"]
    assert ready["config"]["D"] == 6 and ready["config"]["Dhi"] == 12
    assert {a.split("/")[5] for a in ready["multiaddrs"]} == {"p2p", "ws"}  # TCP and WebSocket


async def test_waku_mode_is_js_wakus_relay(js_dir: Path) -> None:
    async with js_peers(js_dir) as js:
        ready = (await js("waku")).peer.ready
    assert ready["mode"] == "waku"
    assert ready["config"]["globalSignaturePolicy"] == "StrictNoSign"
    assert ready["config"]["protocols"] == ["/vac/waku/relay/2.0.0"]
    assert ready["config"]["fallbackToFloodsub"] is False


@pytest.mark.parametrize("extra", [("--mode", "floodsub"), ("--mode", "libp2p", "--signature-policy", "StrictNoSign")])
async def test_bad_arguments_exit_2(build_peer_or_skip: Callable[[str], float], extra: tuple[str, ...]) -> None:
    """No mode but the two; no signature policy override of the library defaults."""
    build_peer_or_skip("js")
    with trio.fail_after(30):
        proc = await trio.run_process([*PEERS["js"].command, *extra], capture_stdout=True, capture_stderr=True,
                                      check=False)
    assert proc.returncode == 2 and proc.stdout == b"", proc.stderr


async def _link(a: PeerParty, b: PeerParty, transport: str = "tcp") -> None:
    await a.dial(b.address(transport))
    await a.wait_mesh(TOPIC, b.peer_id, 15)
    await b.wait_mesh(TOPIC, a.peer_id, 15)


def _has_all(party: PeerParty, sent: list[str]) -> Callable[[], bool]:
    return lambda: set(sent) <= party.received()


async def test_duplicates_are_counted_not_delivered(js_dir: Path) -> None:
    """A triangle: each copy forwarded by the third peer is a duplicate, counted and not delivered."""
    async with js_peers(js_dir) as js:
        a, b, c = await js("libp2p"), await js("libp2p"), await js("libp2p")
        for p in (a, b, c):
            await p.subscribe(TOPIC)
        await _link(a, b)
        await _link(b, c, "ws")
        await _link(c, a)
        sent, errors = await a.publish(TOPIC, 20, 100, 2000)
        assert errors == [] and len(sent) == 20
        for p in (b, c):
            await p.peer.wait_until(_has_all(p, sent), 15, "20 messages")
        with trio.move_on_after(10):
            while ((await b.stats())["duplicates"] + (await c.stats())["duplicates"]) == 0:
                await trio.sleep(0.1)
        stats = [await p.stats() for p in (b, c)]
        assert sum(s["duplicates"] for s in stats) > 0, stats
        assert all(s["received"] == 20 and s["rejected"] == {} for s in stats), stats
        assert [len(p.peer.messages) for p in (b, c)] == [20, 20]  # each message delivered once


async def test_refusals_are_counted_by_reason_and_sender(js_dir: Path) -> None:
    """Gossipsub's own validation (StrictNoSign refusing a signed message) shows in stats.rejected."""
    async with js_peers(js_dir) as js:
        relay, signer = await js("waku"), await js("waku", "--signature-policy", "StrictSign")
        for p in (relay, signer):
            await p.subscribe(TOPIC)
        await _link(signer, relay)
        sent, errors = await signer.publish(TOPIC, 3, 50, 0)
        assert errors == [] and len(sent) == 3
        await relay.peer.wait_until(lambda: len(relay.peer.rejected) >= 3, 10, "3 refusals")
        stats = await relay.stats()
        assert stats["received"] == 0 and sum(stats["rejected"].values()) == 3, stats
        assert {e["from"] for e in relay.peer.rejected} == {signer.peer_id}
        assert {e["signed"] for e in relay.peer.rejected} == {True}
        assert {e["sha256"] for e in relay.peer.rejected} == set(sent)
        assert stats["rejected"] == {"signature_present": 3}, stats
