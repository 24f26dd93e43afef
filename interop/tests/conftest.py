"""Helpers for the interop scenario tests: the repository root on sys.path (for ``interop.harness``) and
peer builds. A peer whose toolchain is missing skips its tests, except under CI=true, where it fails."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from w3msg_libp2p.testing.peer_process import PeerError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # pytest puts interop/tests/ on sys.path, not the repository root
    sys.path.insert(0, str(ROOT))


def build_or_skip(kind: str) -> float:
    """Build (or find cached) the peer of ``kind``; returns the build's wall time in seconds."""
    from interop.harness.peers import build_peer, toolchain_missing

    reason = toolchain_missing(kind)
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        return build_peer(kind)
    except PeerError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def go_peer() -> float:
    return build_or_skip("go")
