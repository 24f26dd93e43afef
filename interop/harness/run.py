"""One scenario run: the registry of scenario kinds, the ``Run`` a kind receives, and its ``Result``.

A scenario (interop/scenarios/*.json) names a ``kind``; the function registered for it with
``@scenario(kind)`` gets a ``Run`` holding the dialer ``a`` and listener ``b`` (the scenario's
``peer`` and ``other`` in the order its direction says), its ``params`` and a ``figures`` dict to
fill, and returns whether it passed. Kinds needing more parties open them with ``Run.open``; every
party is stopped when the run ends."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from interop.harness import netns
from interop.harness.parties import Party, PeerParty, node_party
from interop.harness.peers import peer_process

ScenarioFn = Callable[["Run"], Awaitable[bool]]


@dataclass(frozen=True)
class Kind:
    fn: ScenarioFn
    two_party: bool  # the runner opens ``peer`` and ``other`` as run.a / run.b before calling fn


SCENARIOS: dict[str, Kind] = {}
COMPLETED: list[Result] = []  # every result of this process, in order (the pytest session prints them)


def scenario(kind: str, *, two_party: bool = True) -> Callable[[ScenarioFn], ScenarioFn]:
    """Register ``fn`` as the scenario kind ``kind``. A kind with ``two_party=False`` opens its own
    parties with ``Run.open``."""
    def register(fn: ScenarioFn) -> ScenarioFn:
        SCENARIOS[kind] = Kind(fn, two_party)
        return fn
    return register


@dataclass
class Run:
    spec: dict[str, Any]
    direction: str  # peer_dials | other_dials
    workdir: Path
    stack: AsyncExitStack
    figures: dict[str, Any] = field(default_factory=dict)
    a: Any = None  # the dialer (two-party kinds)
    b: Any = None  # the listener
    parties: int = 0

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.spec.get("params", {}))

    @property
    def mode(self) -> str:
        return str(self.spec.get("mode", "waku"))

    async def open(self, kind: str, mode: str | None = None, *, extra: tuple[str, ...] = (),
                   node: dict[str, Any] | None = None, **node_overrides: Any) -> Party:
        """Start one more party: ``kind`` "node" is our node (``node`` is config as in TOML, defaulting
        to the scenario's ``node`` object; ``node_overrides`` replace NodeConfig fields), any other is a
        peer process of PEERS (``extra`` argv after ``--mode``)."""
        self.parties += 1
        tag = f"{kind}-{self.parties}"
        if kind == "node":
            workdir = self.workdir / tag
            workdir.mkdir()
            mapping = self.spec.get("node", {}) if node is None else node
            return await self.stack.enter_async_context(
                node_party(workdir, mapping, mode or self.mode, **node_overrides))
        proc = await self.stack.enter_async_context(
            peer_process(kind, mode or self.mode, self.workdir / f"{tag}.log", extra))
        return PeerParty(proc)


@dataclass
class Result:
    peer: str
    scenario: str
    direction: str
    other: str
    expect: str
    ok: bool = False
    figures: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.error is not None:
            return "ERROR"
        if self.expect == "observe":
            return "observed"
        return "pass" if self.ok else "FAIL"


@asynccontextmanager
async def _two_parties(run: Run) -> AsyncIterator[tuple[Party, Party]]:
    spec = run.spec
    peer = await run.open(spec["peer"], extra=tuple(spec.get("peer_args", ())))
    other_kind = spec.get("other", "node")
    other = await run.open(other_kind, extra=tuple(spec.get("other_args", ())))
    yield (peer, other) if run.direction == "peer_dials" else (other, peer)


async def run_one(spec: dict[str, Any], direction: str, workdir: Path) -> Result:
    """Run ``spec`` once in ``direction`` with fresh processes; a crash is recorded as the result."""
    import interop.harness.kinds  # noqa: F401  (registers every scenario kind)

    if spec.get("netns") and not netns.inside():
        res = await netns.run_in_netns(spec, direction, workdir)
        COMPLETED.append(res)
        return res
    res = Result(spec["peer"], spec["name"], direction, spec.get("other", "node"), spec.get("expect", "pass"))
    start = time.monotonic()
    try:
        with trio.fail_after(float(spec.get("timeout_s", 300))):
            async with AsyncExitStack() as stack:
                run = Run(spec, direction, workdir, stack, res.figures)
                kind = SCENARIOS[spec["kind"]]
                if kind.two_party:
                    async with _two_parties(run) as (run.a, run.b):
                        res.ok = await kind.fn(run)
                else:
                    res.ok = await kind.fn(run)
    except Exception as exc:  # a crash is the scenario's result, recorded with its type
        while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        res.error = f"{type(exc).__name__}: {exc}"
    res.seconds = round(time.monotonic() - start, 2)
    COMPLETED.append(res)
    return res
