"""Per-peer queue of what the router wants sent, coalesced into RPC bodies on drain. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import codec
from .rpc import Graft, IHave, IWant, Prune


@dataclass(slots=True)
class _Control:
    ihave: list[IHave] = field(default_factory=list)
    iwant: list[IWant] = field(default_factory=list)
    graft: list[Graft] = field(default_factory=list)
    prune: list[Prune] = field(default_factory=list)

    def encode(self) -> bytes:
        return codec.control_field(self.ihave, self.iwant, self.graft, self.prune)


class Outbox:
    """Encoded RPC fields waiting for one peer, bounded in bytes.

    Control goes into the first RPC of a drain as a single ``control`` field: several control
    fields in one RPC are legal protobuf (they merge) but some decoders keep only the last.
    """

    __slots__ = ("_control", "_fields", "limit", "queued_bytes")

    def __init__(self, limit: int) -> None:
        self._fields: list[bytes] = []
        self._control: _Control | None = None
        self.queued_bytes = 0
        self.limit = limit

    def __bool__(self) -> bool:
        return bool(self._fields) or self._control is not None

    def push(self, encoded_field: bytes) -> bool:
        """Queue a publish/subscription field; False (nothing queued) when the peer is over its limit."""
        if self.queued_bytes + len(encoded_field) > self.limit and self._fields:
            return False
        self._fields.append(encoded_field)
        self.queued_bytes += len(encoded_field)
        return True

    @property
    def control(self) -> _Control:
        if self._control is None:
            self._control = _Control()
        return self._control

    def drain(self, batch_bytes: int) -> list[bytes]:
        """RPC bodies, each at most ``batch_bytes`` unless a single field is larger."""
        bodies: list[bytes] = []
        current: list[bytes] = []
        size = 0
        if self._control is not None:
            ctrl = self._control.encode()
            self._control = None
            if ctrl:
                current.append(ctrl)
                size = len(ctrl)
        for f in self._fields:
            if current and size + len(f) > batch_bytes:
                bodies.append(b"".join(current))
                current, size = [], 0
            current.append(f)
            size += len(f)
        if current:
            bodies.append(b"".join(current))
        self._fields = []
        self.queued_bytes = 0
        return bodies
