"""Our node against the go-libp2p peer (interop/peers/go): every scenario in interop/scenarios/ whose
``peer`` is "go", in each of its dial directions, run by interop/runner.py with fresh processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interop.harness.run import Result, run_one
from interop.runner import load_scenarios

pytestmark = pytest.mark.interop

CASES = [pytest.param(s, d, id=f"{s['name']}-{s.get('other', 'node')}-{d}")
         for s in load_scenarios("go") for d in s.get("directions", ["peer_dials", "other_dials"])]


def _explain(res: Result) -> str:
    return f"{res.status}: {res.error or ''}\nfigures: {res.figures}"


@pytest.mark.parametrize(("scenario", "direction"), CASES)
async def test_go_scenario(go_peer: float, tmp_path: Path, scenario: dict[str, Any], direction: str) -> None:
    res = await run_one(scenario, direction, tmp_path)
    assert res.error is None, _explain(res)
    assert res.status == "pass", _explain(res)
    assert res.figures["dial"]["handshakePlusOneRTTMillis"] > 0
