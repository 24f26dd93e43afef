"""Interop scenario runner: our node (open_node on 127.0.0.1) against peers of other libp2p implementations.

Scenarios are data (interop/scenarios/*.json): ``name``, ``peer`` (a kind in PEERS), ``mode`` (the peer's
gossipsub configuration), ``kind`` (connect | echo | gossipsub), ``other`` ("node" = our node, or a peer
kind for peer-to-peer baselines), ``directions`` (peer_dials | other_dials), ``expect`` ("pass", or "observe"
for scenarios that only record what happens) and ``params``. Each scenario runs once per direction with fresh
processes; results go to interop/.cache/results.json and a matrix is printed.

    .venv/bin/python interop/runner.py [--peer go] [--scenario NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interop.harness.peers import CACHE, PEERS, build_peer
from interop.harness.run import Result, run_one
from w3msg_libp2p.testing.peer_process import PeerError

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_DIR = ROOT / "interop" / "scenarios"
RESULTS = CACHE / "results.json"


def peer_kinds(scenarios: list[dict[str, Any]]) -> set[str]:
    """Every peer kind the scenarios start (``peer``, ``other`` and a kind's ``uses`` list)."""
    kinds: set[str] = set()
    for s in scenarios:
        kinds |= {s["peer"], s.get("other", "node"), *s.get("uses", ())}
    return kinds - {"node"}


def load_scenarios(peer: str | None = None, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Scenarios of ``peer`` (all when None), optionally only those named in ``names``."""
    found = [json.loads(p.read_text()) for p in sorted(SCENARIO_DIR.glob("*.json"))]
    return [s for s in found if (peer is None or s["peer"] == peer) and (not names or s["name"] in names)]


def _summary(r: Result) -> str:
    f = r.figures
    if r.error:
        return r.error.splitlines()[0][:100]
    parts = [str(f["summary"])] if "summary" in f else []  # a kind's own one-line summary
    if "dial" in f:
        parts.append(f"hs+rtt {f['dial']['handshakePlusOneRTTMillis']:.1f} ms")
    for key in ("dialer_echo", "listener_echo"):
        if key in f:
            parts.append(f"{key.split('_')[0]} echo {f[key]['bytes']} B {f[key]['ms']:.0f} ms")
    for key, label in (("dialer_to_listener", "d->l"), ("listener_to_dialer", "l->d")):
        if key in f:
            parts.append(f"{label} {f[key]['delivered']}/{f[key]['published']} {f[key]['msgs_per_s']}/s")
    for key in ("ping_dialer_ms", "ping_listener_ms"):
        if key in f:
            parts.append(f"{key.split('_')[1]} ping median {sorted(f[key])[len(f[key]) // 2]:.2f} ms")
    for key in ("dialer_stats", "listener_stats"):
        stats = f.get(key, {})
        refused = stats.get("rejected") or stats.get("relay", {}).get("drops")
        if refused:
            parts.append(f"{key.split('_')[0]} refused {refused}")
    return ", ".join(parts) or _scalars(f)


def _scalars(figures: dict[str, Any], limit: int = 6) -> str:
    """Fallback summary: the first few short values of each figure group (but the session set-up)."""
    parts = []
    for group, values in figures.items():
        if isinstance(values, dict) and group != "session":
            short = [f"{k}={v}" for k, v in values.items() if isinstance(v, int | float | bool | str)
                     or (isinstance(v, list) and len(v) <= 4)]
            parts.append(f"{group}: " + " ".join(short[:limit]))
    return "; ".join(parts)


def matrix_lines(results: list[Result]) -> list[str]:
    """The matrix: one line per peer x scenario x direction, with status and figures."""
    lines = [f"{'peer':<8} {'scenario':<32} {'direction':<32} {'status':<9} figures"]
    for r in results:
        direction = f"{r.peer}->{r.other}" if r.direction == "peer_dials" else f"{r.other}->{r.peer}"
        direction = str(r.figures.get("parties", direction))  # kinds with more than two parties name them
        lines.append(f"{r.peer:<8} {r.scenario:<32} {direction:<32} {r.status:<9} {_summary(r)}")
    return lines


def print_matrix(results: list[Result]) -> None:
    print("\n" + "\n".join(matrix_lines(results)))


async def run_all(scenarios: list[dict[str, Any]]) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="w3msg-interop-") as tmp:
        for i, scn in enumerate(scenarios):
            for direction in scn.get("directions", ["peer_dials", "other_dials"]):
                workdir = Path(tmp) / f"{i}-{direction}"
                workdir.mkdir()
                results.append(await run_one(scn, direction, workdir))
    return results


def write_results(results: list[Result], builds: dict[str, float]) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"builds_s": builds, "results": [
        {**r.__dict__, "status": r.status} for r in results]}, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer", choices=sorted(PEERS), help="only this peer kind")
    ap.add_argument("--scenario", action="append", help="only scenarios with this name (repeatable)")
    args = ap.parse_args(argv)
    scenarios = load_scenarios(args.peer, args.scenario)
    if not scenarios:
        print("no scenario matched", file=sys.stderr)
        return 2
    kinds = sorted(peer_kinds(scenarios))
    try:
        builds = {k: round(build_peer(k), 2) for k in kinds}
    except PeerError as exc:
        print(exc, file=sys.stderr)
        return 3
    results = trio.run(run_all, scenarios)
    write_results(results, builds)
    print_matrix(results)
    print(f"\nresults: {os.path.relpath(RESULTS)}")
    return 0 if all(r.status in ("pass", "observed") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
