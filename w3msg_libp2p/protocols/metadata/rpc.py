"""Waku metadata as plain data. Request and response carry the same two facts."""

from __future__ import annotations

from dataclasses import dataclass

METADATA_PROTOCOL = "/vac/waku/metadata/1.0.0"


@dataclass(frozen=True, slots=True)
class Metadata:
    """A node's cluster id (None: it did not say) and the shards it relays in that cluster."""

    cluster_id: int | None
    shards: tuple[int, ...] = ()
