"""Helpers for the interop scenario tests: the repository root on sys.path (for ``interop.harness``) and
peer builds. A peer whose toolchain is missing skips its tests, except under CI=true, where it fails."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from w3msg_libp2p.testing.peer_process import PeerError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # pytest puts interop/tests/ on sys.path, not the repository root
    sys.path.insert(0, str(ROOT))


BUILDS: dict[str, float] = {}  # peer kind -> build seconds (0-ish when cached)


def build_or_skip(kind: str) -> float:
    """Build (or find cached) the peer of ``kind``; returns the build's wall time in seconds."""
    from interop.harness.peers import build_peer, toolchain_missing

    if kind in BUILDS:
        return BUILDS[kind]
    reason = toolchain_missing(kind)
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        BUILDS[kind] = round(build_peer(kind), 2)
    except PeerError as exc:
        pytest.fail(str(exc), pytrace=False)
    return BUILDS[kind]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The interop matrix of every scenario this session ran, and interop/.cache/results.json."""
    from interop.harness.run import COMPLETED
    from interop.runner import RESULTS, matrix_lines, write_results

    if not COMPLETED:
        return
    write_results(COMPLETED, BUILDS)
    terminalreporter.section("interop matrix")
    for line in matrix_lines(COMPLETED):
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"builds (s): {BUILDS}; results: {RESULTS}")


@pytest.fixture(scope="session")
def build_peer_or_skip() -> Callable[[str], float]:
    """Builds (once per session) the peer kind it is given; skips, or fails under CI=true."""
    return build_or_skip
