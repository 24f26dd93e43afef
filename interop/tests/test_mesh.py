"""The mixed mesh (interop/harness/kind_mesh.py): our nodes and go-libp2p, rust-libp2p and js-libp2p peers
on one topic, linked so that messages cross implementations on their way; every member publishes and
every message must reach every other member, with nothing refused anywhere. One run per scenario of
kind "mesh" in interop/scenarios/ (Waku relay configuration, and libp2p's gossipsub defaults)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interop.harness.run import Result, run_one
from interop.runner import load_scenarios, peer_kinds
from interop.tests.conftest import build_or_skip

pytestmark = pytest.mark.interop

SCENARIOS = [s for s in load_scenarios() if s["kind"] == "mesh"]
CASES = [pytest.param(s, id=s["name"]) for s in SCENARIOS]


@pytest.fixture(scope="session")
def mesh_peers() -> dict[str, float]:
    return {kind: build_or_skip(kind) for kind in sorted(peer_kinds(SCENARIOS))}


def _explain(res: Result) -> str:
    return f"{res.status}: {res.error or ''}\nfigures: {res.figures}"


def test_mesh_scenarios_cross_implementations() -> None:
    """Each mesh has our node and a go, a rust and a js peer, so delivery is checked across all four."""
    assert SCENARIOS
    for s in SCENARIOS:
        assert {"node", "go", "rust", "js"} <= set(s["params"]["members"]), s["name"]
        assert {"go", "rust", "js"} <= set(s["uses"]), s["name"]


@pytest.mark.parametrize("scenario", CASES)
async def test_mesh(mesh_peers: dict[str, float], tmp_path: Path, scenario: dict[str, Any]) -> None:
    res = await run_one(scenario, "peer_dials", tmp_path)
    assert res.error is None, _explain(res)
    f = res.figures
    members = f["per_member"]
    count = int(scenario["params"]["count"])
    assert len(members) == len(scenario["params"]["members"]), _explain(res)
    for name, m in members.items():
        assert m["published"] == count and m["publish_errors"] == 0, f"{name}: {_explain(res)}"
        assert m["received"] == m["expected"] == count * (len(members) - 1), f"{name}: {_explain(res)}"
        assert m.get("app_deliveries", m["received"]) == m["received"], f"{name} delivered a message twice"
    assert f["mesh_missing"] == [], _explain(res)
    assert f["refused"] == {}, _explain(res)
    assert res.ok, _explain(res)
