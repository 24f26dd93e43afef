"""The mixed-mesh scenarios (interop/scenarios/mesh-*.json, kind "mesh" in interop/harness/kind_mesh.py):
their topologies really mix the implementations. The scenarios themselves run in test_scenarios.py with
every other scenario; a mesh passes only when every message reached every member, every link's mesh
formed and no member refused a message."""

from __future__ import annotations

from typing import Any

import pytest

from interop.harness.kind_mesh import connected, mesh_links, ring
from interop.runner import load_scenarios, peer_kinds

SCENARIOS = [s for s in load_scenarios() if s["kind"] == "mesh"]
IMPLEMENTATIONS = {"node", "go", "rust", "js"}


def test_there_is_a_waku_and_a_libp2p_mesh() -> None:
    assert sorted(s["mode"] for s in SCENARIOS) == ["libp2p", "waku"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_mesh_mixes_every_implementation(scenario: dict[str, Any]) -> None:
    members = [str(k) for k in scenario["params"]["members"]]
    links = mesh_links(scenario["params"], len(members))
    assert set(members) >= IMPLEMENTATIONS
    assert peer_kinds([scenario]) >= IMPLEMENTATIONS - {"node"}  # the runner builds every peer it opens
    assert connected(len(members), links)
    # not a hub: no member is on every link, so messages are relayed by several implementations
    assert all(any(m not in (i, j) for i, j, _ in links) for m in range(len(members)))
    # every implementation forwards for others: each member has two or more links
    assert all(sum(m in (i, j) for i, j, _ in links) >= 2 for m in range(len(members)))
    # both transports are crossed
    assert {t for _, _, t in links} == {"tcp", "ws"}


def test_ring_and_connectivity() -> None:
    assert ring(3) == [[0, 1], [1, 2], [2, 0]]
    assert connected(4, mesh_links({}, 4))
    assert not connected(4, mesh_links({"links": [[0, 1], [2, 3]]}, 4))


@pytest.mark.parametrize("links", [[[0, 0]], [[0, 4]], [[-1, 1]]])
def test_links_must_join_two_members(links: list[list[int]]) -> None:
    with pytest.raises(ValueError, match="does not join"):
        mesh_links({"links": links}, 4)
