"""A clock that only moves when told to."""

from __future__ import annotations


class FakeClock:
    def __init__(self, start: float = 1_000.0, wall_ns: int = 1_700_000_000_000_000_000) -> None:
        self.now = start
        self._wall_offset = wall_ns - int(start * 1e9)

    def monotonic(self) -> float:
        return self.now

    def wall_ns(self) -> int:
        return int(self.now * 1e9) + self._wall_offset

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now
