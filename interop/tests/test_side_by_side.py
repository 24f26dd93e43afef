"""The side-by-side relay benchmark (kind "side-by-side", interop/scenarios/side-by-side*.json): a line of
our nodes and a line of go-libp2p-pubsub peers measured in the same run. The tests check that the
measurement works and what it reports, never which line is faster."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from interop.harness.kind_side_by_side import headline
from interop.harness.line_bench import DELIVERED_MIN
from interop.harness.parties import node_party
from interop.harness.peers import peer_process
from interop.harness.run import Result, run_one
from interop.runner import SCENARIO_DIR
from w3msg_libp2p.core.codec import encode_message
from w3msg_libp2p.core.message import WakuMessage

SCENARIOS = sorted(SCENARIO_DIR.glob("side-by-side*.json"))
TOPIC = "/waku/2/rs/1/0"
HEADER = struct.Struct(">II")
CLOCK_SANE_MS = 60_000  # send and receive timestamps on one wall clock: a latency beyond this is a clock bug


@pytest.fixture(scope="module")
def go_built(build_peer_or_skip: Callable[[str], float]) -> float:
    """build_or_skip("go") of interop/tests/conftest.py: cached build; skips, or fails under CI=true."""
    return build_peer_or_skip("go")


def _explain(res: Result) -> str:
    return f"{res.status}: {res.error or ''}\nfigures: {json.dumps(res.figures)[:4000]}"


@pytest.mark.interop
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_side_by_side_scenario(go_built: float, tmp_path: Path, path: Path) -> None:
    spec = json.loads(path.read_text())
    res = await run_one(spec, "peer_dials", tmp_path)
    assert res.error is None, _explain(res)
    assert res.status == "pass", _explain(res)
    f, params = res.figures, spec["params"]
    rates = sorted(params["rates"])
    for impl in ("ours", "theirs"):
        line = f[impl]
        assert line["exit_codes"] == [0] * params["nodes"], _explain(res)
        assert line["mesh_sizes"] == [1] + [2] * (params["nodes"] - 2) + [1]
        assert [s["rate"] for s in line["steps"]] == rates
        low = line["steps"][0]
        assert low["sent"] == round(rates[0] * params["step_s"])
        assert low["delivered_ratio"] >= DELIVERED_MIN, _explain(res)
        assert low["tail_stale"] == 0 and low["tail_duplicates"] == 0
        assert 0 < low["p50_ms"] <= low["p99_ms"] < CLOCK_SANE_MS, _explain(res)
        assert low["msgs_per_s"] > 0
    # both lines sustained the lowest step, so both have a max sustained rate and the ratios exist
    assert f["ours_max_sustained_rate"] >= rates[0] and f["theirs_max_sustained_rate"] >= rates[0]
    assert f["throughput_ratio"] is not None and f["throughput_ratio"] > 0
    assert f["p50_ratio"] is not None and str(rates[0]) in f["p50_ratio_by_rate"]
    assert len(f["table"]) >= len(rates) + 4 and "throughput ratio ours/theirs" in f["table"][-1]


def _step(rate: int, sustained: bool, msgs: float, p50: float) -> dict[str, Any]:
    return {"rate": rate, "sustained": sustained, "msgs_per_s": msgs, "p50_ms": p50}


def test_headline_ratios() -> None:
    ours = [_step(100, True, 99, 4.0), _step(200, True, 198, 6.0), _step(400, False, 300, 50.0)]
    theirs = [_step(100, True, 100, 1.0), _step(200, False, 150, 2.0), _step(400, False, 120, 3.0)]
    h = headline(ours, theirs)
    assert (h["ours_max_sustained_rate"], h["theirs_max_sustained_rate"]) == (200, 100)
    assert h["throughput_ratio"] == round(198 / 100, 3)
    # p50 compares at the highest step BOTH sustained: 100 msg/s
    assert (h["p50_ratio_at_rate"], h["p50_ratio"]) == (100, 4.0)
    assert h["p50_ratio_by_rate"] == {"100": 4.0}
    assert not h["ours_capped"] and not h["theirs_capped"]


def test_headline_nothing_sustained() -> None:
    ours = [_step(100, True, 99, 4.0)]
    theirs = [_step(100, False, 10, 1.0)]
    h = headline(ours, theirs)
    assert h["theirs_max_sustained_rate"] == 0 and h["throughput_ratio"] is None
    assert h["p50_ratio"] is None and h["p50_ratio_by_rate"] == {}
    assert h["ours_capped"] and not h["theirs_capped"]


@pytest.mark.interop
async def test_go_bench_messages_are_the_workers(go_built: float, tmp_path: Path) -> None:
    """The go peer's benchmark messages have the bytes of relay_worker.bench_message (payload header +
    padding, content topic, send-time timestamp) and it measures ours: the two lines compare like for like."""
    from benchmarks.relay_worker import CONTENT_TOPIC, PAYLOAD_BYTES, bench_message

    async with node_party(tmp_path / "node", {}) as ours, \
            peer_process("go", "waku", tmp_path / "go.log") as go:
        relay = ours.node.relay
        assert relay is not None
        await go.command("subscribe", topic=TOPIC)  # not quiet: message events with recv_ns
        await go.command("dial", multiaddr=ours.address("tcp"))
        await go.command("wait_mesh", topic=TOPIC, peer_id=ours.peer_id, timeout_ms=15000)
        await relay.wait_for_mesh(TOPIC, peers=1, timeout=15)
        await go.command("bench_start", round=7)

        with relay.messages(pubsub_topic=TOPIC) as sub:
            pub = await go.command("bench_publish", topic=TOPIC, count=5, rate=100, size=PAYLOAD_BYTES)
            assert pub["sent"] == 5 and pub["errors"] == {}
            got: list[WakuMessage] = []
            with trio.fail_after(10):
                while len(got) < 5:
                    got.append((await sub.receive()).message)
        for seq, msg in enumerate(got):
            assert msg.content_topic == CONTENT_TOPIC and len(msg.payload) == PAYLOAD_BYTES
            assert HEADER.unpack_from(msg.payload) == (7, seq)
            assert msg.payload == bench_message(7, seq).payload
            assert msg.timestamp and msg.timestamp > 0

        sent = [bench_message(7, seq) for seq in range(3)] + [bench_message(6, 99)]  # the last: another round
        for msg in sent:
            await relay.publish(TOPIC, msg)
        with trio.fail_after(10):
            while (await go.command("bench_count"))["received"] < 3:
                await trio.sleep(0.05)
        await go.wait_until(lambda: len(go.messages) >= 4, 10, "message events")
        report = await go.command("bench_report")
        assert report["received"] == 3 and report["stale"] == 1 and report["duplicates"] == 0
        assert all(0 <= lat < CLOCK_SANE_MS * 1000 for lat in report["latencies_us"])
        events = go.messages[:4]
        assert [e["sha256"] for e in events] == [hashlib.sha256(encode_message(m)).hexdigest() for m in sent]
        assert all(msg.timestamp <= e["recv_ns"] for msg, e in zip(sent, events, strict=True))
