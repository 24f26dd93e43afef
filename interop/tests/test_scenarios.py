"""Every scenario of interop/scenarios/, in each of its dial directions, with fresh processes:
our node against the go-libp2p, rust-libp2p, js-libp2p and go-waku peers (and peer-to-peer
baselines between them). The peers a scenario needs are built first (cached); a missing toolchain
skips, or fails under CI=true. The session ends by printing the matrix (interop/tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from interop.harness.run import Result, run_one
from interop.runner import load_scenarios, peer_kinds

pytestmark = pytest.mark.interop

# a scenario with ``tested_by`` runs in that test file, which checks its figures in detail
CASES = [pytest.param(s, d, id=f"{s['peer']}-{s['name']}-{s.get('other', 'node')}-{d}")
         for s in load_scenarios() if "tested_by" not in s
         for d in s.get("directions", ["peer_dials", "other_dials"])]


def _explain(res: Result) -> str:
    return f"{res.status}: {res.error or ''}\nfigures: {res.figures}"


@pytest.mark.parametrize(("scenario", "direction"), CASES)
async def test_scenario(build_peer_or_skip: Callable[[str], float], tmp_path: Path, scenario: dict[str, Any],
                        direction: str) -> None:
    for kind in sorted(peer_kinds([scenario])):
        build_peer_or_skip(kind)
    res = await run_one(scenario, direction, tmp_path)
    assert res.error is None, _explain(res)
    assert res.status in ("pass", "observed"), _explain(res)
