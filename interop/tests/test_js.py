"""Our node against the js-libp2p 3.x peer (interop/peers/js/relay-peer.mjs): every scenario in
interop/scenarios/ whose ``peer`` is "js" (but the mixed meshes, run by test_mesh.py), in each of its dial
directions, run by the harness with fresh processes. The peer's dependencies (Node 22 included) come from
scripts/interop-js-deps.sh (npm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interop.harness.run import Result, run_one
from interop.runner import load_scenarios
from interop.tests.conftest import build_or_skip

pytestmark = pytest.mark.interop

CASES = [pytest.param(s, d, id=f"{s['name']}-{s.get('other', 'node')}-{d}")
         for s in load_scenarios("js") if s["kind"] != "mesh"  # the mixed meshes: test_mesh.py
         for d in s.get("directions", ["peer_dials", "other_dials"])]


@pytest.fixture(scope="session")
def js_peer() -> float:
    return build_or_skip("js")


def _explain(res: Result) -> str:
    return f"{res.status}: {res.error or ''}\nfigures: {res.figures}"


def test_every_js_scenario_expects_pass() -> None:
    """The js scenarios are all expected to pass: none only observes (the CASES below assert it)."""
    assert CASES and all(s.values[0].get("expect", "pass") == "pass" for s in CASES)


@pytest.mark.parametrize(("scenario", "direction"), CASES)
async def test_js_scenario(js_peer: float, tmp_path: Path, scenario: dict[str, Any], direction: str) -> None:
    res = await run_one(scenario, direction, tmp_path)
    assert res.error is None, _explain(res)
    assert res.ok, _explain(res)
    assert res.figures["dial"]["handshakePlusOneRTTMillis"] > 0
    if scenario["kind"] == "gossipsub":  # nothing refused, nothing delivered twice
        for key in ("dialer_stats", "listener_stats"):
            stats = res.figures[key]
            assert stats.get("rejected", {}) == {} and stats.get("duplicates", 0) == 0, _explain(res)
            assert stats.get("relay", {}).get("drops", {}) == {}, _explain(res)
