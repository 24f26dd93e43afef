"""Smoke test of the store benchmark: a small run on both backends prints one complete, coherent
JSON line. It asserts behaviour (every figure present and consistent, pages full, the targets
judged from the figures), not speed.
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
BENCH = ROOT / "benchmarks" / "store_bench.py"
MESSAGES = 4000
SMALL = ("--messages", str(MESSAGES), "--batch", "250", "--sessions", "20", "--lookups", "50", "--naive", "100")


def run_bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    existing = os.environ.get("W3MSG_TEST_POSTGRES_URL")  # else the benchmark starts its own server
    result = run_bench(*SMALL, *(("--postgres-url", existing) if existing else ()))
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one JSON line on stdout, got {len(lines)}"
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


def check_latency(figures: dict[str, Any], samples: int | None = None) -> None:
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] < 60_000, figures
    if samples is not None:
        assert figures["n"] == samples


def check_backend(res: dict[str, Any], sqlite: bool) -> None:
    assert res["ingest_msgs_per_s"] > 0 and res["ingest_s"] > 0
    assert res["ingest_msgs_per_s"] == pytest.approx(MESSAGES / res["ingest_s"], rel=0.05)
    for direction in ("forward", "backward"):
        page = res[f"page_{direction}"]
        check_latency(page)
        assert 20 <= page["n"] <= 100  # 20 sessions, 1-5 pages each
        assert 0 < page["mean_messages"] <= 20
    check_latency(res["hash_lookup"], samples=50)
    assert res["stored_bytes"] > MESSAGES * 100  # payloads of 100-1000 bytes, plus framing
    assert res["database_bytes"] >= res["stored_bytes"] // 2
    assert res["baseline"]["ingest_one_per_transaction_msgs_per_s"] > 0
    if sqlite:
        for direction in ("forward", "backward"):
            for index in ("time_index_only", "no_index"):
                check_latency(res["baseline"][f"page_{direction}_{index}"])
    assert res["retention_deleted"] == (MESSAGES + 100) // 10  # 10% of everything stored, oldest first


def test_sqlite_figures_are_complete(report: dict[str, Any]) -> None:
    assert report["bench"] == "store" and report["messages"] == MESSAGES
    check_backend(report["sqlite"], sqlite=True)


def test_postgres_figures_are_complete(report: dict[str, Any]) -> None:
    res = report["postgres"]
    if "error" in res:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI: {res['error']}")
        pytest.skip(f"PostgreSQL unavailable: {res['error']}")
    check_backend(res, sqlite=False)


def test_targets_follow_from_the_figures(report: dict[str, Any]) -> None:
    assert report["targets"] == {"ingest_msgs_per_s": 10_000, "page_p50_ms": 5.0, "page_p99_ms": 20.0}
    s = report["sqlite"]
    pages = (s["page_forward"], s["page_backward"])
    assert report["targets_met"] == {
        "sqlite_ingest_ge_10000": s["ingest_msgs_per_s"] >= 10_000,
        "sqlite_page_p50_le_5ms": all(p["p50_ms"] <= 5 for p in pages),
        "sqlite_page_p99_le_20ms": all(p["p99_ms"] <= 20 for p in pages),
    }


def test_bad_arguments_are_refused_without_traceback() -> None:
    for args in (("--messages", "0"), ("--backends", "mysql")):
        result = run_bench(*args, timeout=60)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert args[0] in result.stderr
