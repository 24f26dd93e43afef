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
    if scenario.get("expect", "pass") == "pass":
        assert res.ok, _explain(res)
        assert res.figures["dial"]["handshakePlusOneRTTMillis"] > 0
    else:
        _check_signed_refused(res)


def _check_signed_refused(res: Result) -> None:
    """go-libp2p-pubsub defaults (StrictSign) against our Waku relay (StrictNoSign): refused both ways.

    Our relay rejects the signed messages and counts why; go-libp2p-pubsub rejects our unsigned ones
    ("missing signature") for as long as it still has a connection to us."""
    f = res.figures
    peer_stats, node_stats = ((f["dialer_stats"], f["listener_stats"]) if res.direction == "peer_dials"
                              else (f["listener_stats"], f["dialer_stats"]))
    to_node, to_peer = ((f["dialer_to_listener"], f["listener_to_dialer"]) if res.direction == "peer_dials"
                        else (f["listener_to_dialer"], f["dialer_to_listener"]))
    assert to_node["published"] > 0 and to_node["delivered"] == 0, _explain(res)
    assert node_stats["relay"]["drops"].get("rejected:signed_message_under_strict_no_sign", 0) > 0, _explain(res)
    assert to_peer["delivered"] == 0, _explain(res)
    if to_peer["published"]:  # we still had the peer when we published: it refused every message
        assert peer_stats["rejected"].get("missing signature", 0) == to_peer["published"], _explain(res)
