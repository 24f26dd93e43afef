"""Smoke test of the relay benchmark: runs it with its tiny --quick schedule (one OS process per
node, both implementations) and checks that the one JSON line it prints is complete and coherent.

It asserts behaviour, not speed: at 50 msg/s our relay must deliver every message to every node of
the line, and the figures must agree with each other; the rates reached are not judged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "relay_bench.py"
QUICK_RATES = {"ours": [250, 500], "baseline": [10, 25]}
NUMBER = (int, float)


def run_bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    result = run_bench("--quick")
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one JSON line on stdout, got {len(lines)}"
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


def test_headline_keys_and_types(report: dict[str, Any]) -> None:
    assert report["bench"] == "relay"
    assert report["line_max_rate"] in {0, *QUICK_RATES["ours"]}
    assert report["mesh_max_rate"] in {0, *QUICK_RATES["ours"]}
    assert report["baseline_line_max_rate"] in {0, *QUICK_RATES["baseline"]}
    assert report["baseline_mesh_max_rate"] in {0, *QUICK_RATES["baseline"]}
    for key in ("p50_ms_at_500", "p99_ms_at_500", "cpu_ms_per_msg", "p50_ms_at_50", "p99_ms_at_50",
                "baseline_p50_ms_at_50", "baseline_p99_ms_at_50", "baseline_cpu_ms_per_msg_at_50"):
        assert isinstance(report[key], NUMBER) and not isinstance(report[key], bool), key
        assert 0 < report[key] < 60_000, (key, report[key])
    assert report["p50_ms_at_500"] <= report["p99_ms_at_500"]
    assert report["baseline_p50_ms_at_50"] <= report["baseline_p99_ms_at_50"]


def test_ratio_and_targets_follow_from_the_figures(report: dict[str, Any]) -> None:
    base = report["baseline_line_max_rate"]
    if base:
        assert report["ratio"] == pytest.approx(report["line_max_rate"] / base, abs=0.01)
    else:
        assert report["ratio"] is None
    targets = report["targets_met"]
    assert set(targets) == {"line_rate_ge_1000", "p99_le_50ms_at_500", "cpu_le_0_5ms_per_msg", "ratio_ge_10x"}
    assert targets["line_rate_ge_1000"] is False  # the quick schedule stops at 500 msg/s
    assert targets["cpu_le_0_5ms_per_msg"] is (report["cpu_ms_per_msg"] <= 0.5)
    assert targets["ratio_ge_10x"] is (None if report["ratio"] is None else report["ratio"] >= 10)


def test_rounds_are_complete_and_consistent(report: dict[str, Any]) -> None:
    duration = report["config"]["duration_s"]
    for impl in ("ours", "baseline"):
        res = report[impl]
        assert res["line_mesh_sizes"][0] >= 1 and len(res["line_mesh_sizes"]) == 5
        for topology, receivers in (("line", 4), ("mesh", 5)):
            rounds = res[topology]
            assert rounds, (impl, topology)
            for r in rounds:
                assert r["topology"] == topology
                assert r["sent"] == round(r["rate"] * duration)
                assert len(r["received"]) == receivers
                assert all(0 <= n <= r["sent"] for n in r["received"])
                assert 0 <= r["delivery_ratio_min"] <= 1
                assert r["passed"] == (r["delivered_all"] and r["rate_ok"] and r["kept_up"])
                assert r["delivered_all"] == (min(r["received"]) == r["sent"] and not r["publish_errors"])
                assert r["cpu_ms_per_msg_relay"] > 0
                assert r["app_duplicates"] == 0, "a relay delivered a message twice to its subscriber"
        line_rates = [r["rate"] for r in res["line"]]
        assert 50 in line_rates  # the reference rate is always measured on the line


def test_our_relay_delivers_everything_at_low_rate(report: dict[str, Any]) -> None:
    at_50 = [r for r in report["ours"]["line"] if r["rate"] == 50]
    assert at_50 and at_50[0]["delivery_ratio_min"] == 1.0, at_50
    assert not at_50[0]["drops"], at_50[0]["drops"]


def test_every_worker_process_is_gone(report: dict[str, Any]) -> None:
    pids = report["ours"]["worker_pids"] + report["baseline"]["worker_pids"]
    assert len(pids) == 12
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_bad_arguments_are_refused_without_traceback() -> None:
    result = run_bench("--profile-node", "9", timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--profile-node" in result.stderr
