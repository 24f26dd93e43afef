"""An in-memory network of gossipsub routers: the sans-I/O cores talking through the real codec,
with no sockets. Deterministic given a seed."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from ..core.framing import FrameDecoder, frame
from ..protocols.relay.codec import decode_rpc
from ..protocols.relay.events import Deliver, RouterEvent
from ..protocols.relay.params import WAKU_RELAY_PROTOCOL, GossipParams
from ..protocols.relay.router import GossipRouter, Validator
from .clock import FakeClock


class RouterNet:
    def __init__(self, params: GossipParams | None = None, seed: int = 1, clock: FakeClock | None = None) -> None:
        self.params = params or GossipParams()
        self.rng = random.Random(seed)
        self.clock = clock or FakeClock()
        self.routers: dict[str, GossipRouter] = {}
        self.links: set[tuple[str, str]] = set()
        self.delivered: dict[str, list[Deliver]] = {}
        self.events: dict[str, list[RouterEvent]] = {}
        self.bytes_sent = 0
        self.rpcs_sent = 0
        # Links where frames are dropped (to simulate loss) or rewritten (to inject bad input).
        self.tamper: dict[tuple[str, str], Callable[[bytes], bytes | None]] = {}

    def add(self, name: str, validator: Validator | None = None, params: GossipParams | None = None,
            **router_options: Any) -> GossipRouter:
        """A router named ``name``; ``router_options`` go to GossipRouter (signature policy, ids...)."""
        router = GossipRouter(params or self.params, rng=random.Random(self.rng.random()),
                              default_validator=validator, **router_options)
        self.routers[name] = router
        self.delivered[name] = []
        self.events[name] = []
        return router

    def connect(self, a: str, b: str, protocol: str = WAKU_RELAY_PROTOCOL) -> None:
        """``a`` dialed ``b``."""
        now = self.clock.now
        self.routers[a].add_peer(b, protocol, outbound=True, now=now, ips=frozenset({f"10.0.0.{len(self.links)}"}))
        self.routers[b].add_peer(a, protocol, outbound=False, now=now, ips=frozenset({f"10.1.0.{len(self.links)}"}))
        self.links.add((a, b))
        self.links.add((b, a))

    def disconnect(self, a: str, b: str) -> None:
        now = self.clock.now
        self.routers[a].remove_peer(b, now)
        self.routers[b].remove_peer(a, now)
        self.links.discard((a, b))
        self.links.discard((b, a))

    def subscribe_all(self, topic: str, names: Iterable[str] | None = None) -> None:
        for name in names or self.routers:
            self.routers[name].subscribe(topic, self.clock.now)

    def pump(self, max_rounds: int = 1000) -> int:
        """Deliver queued RPCs until the network is quiet; returns the number of rounds."""
        for rounds in range(max_rounds):
            moved = False
            for name, router in self.routers.items():
                for peer in router.take_dirty():
                    bodies = router.drain(peer)
                    if bodies and (name, peer) in self.links:
                        moved = True
                        self._deliver(name, peer, bodies)
                self._collect(name, router)
            if not moved:
                return rounds
        raise RuntimeError("network did not settle")

    def _deliver(self, sender: str, receiver: str, bodies: list[bytes]) -> None:
        tamper = self.tamper.get((sender, receiver))
        decoder = FrameDecoder(self.params.max_rpc_size)
        target = self.routers[receiver]
        for body in bodies:
            self.rpcs_sent += 1
            self.bytes_sent += len(body)
            if tamper is not None:
                changed = tamper(body)
                if changed is None:
                    continue
                body = changed
            for frame_body in decoder.feed(frame(body)):
                target.handle_rpc(sender, decode_rpc(frame_body), self.clock.now)

    def _collect(self, name: str, router: GossipRouter) -> None:
        for event in router.take_events():
            self.events[name].append(event)
            if isinstance(event, Deliver):
                self.delivered[name].append(event)

    def heartbeat(self, rounds: int = 1, interval: float | None = None) -> None:
        for _ in range(rounds):
            self.clock.advance(interval if interval is not None else self.params.heartbeat_interval)
            for router in self.routers.values():
                router.heartbeat(self.clock.now)
            self.pump()
