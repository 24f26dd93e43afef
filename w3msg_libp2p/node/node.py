"""The one composition root: ``async with open_node(config) as node``."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr

from .. import __version__
from ..core.errors import ConfigError, PeerUnreachable
from ..net.addresses import expand_wildcards, parse_multiaddr
from ..net.host import build_host
from ..net.listen import check_listen_addrs
from ..protocols.relay.waku import WakuRelay, gossip_params
from .config import NodeConfig
from .enr import LocalEnr
from .keys import load_or_create_key_pair
from .light import LightClient

if TYPE_CHECKING:
    from ..api.rest import RestServer
    from ..core.enr import Enr

log = logging.getLogger(__name__)

SERVICE_NAMES = ("store", "filter", "lightpush", "peer_exchange", "metadata")
DIAL_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0
STATIC_PEER_RETRY = (1.0, 30.0)  # first and longest wait between redials of a configured peer


@dataclass(frozen=True, slots=True)
class PeerSummary:
    peer_id: str
    multiaddrs: tuple[str, ...]
    protocols: tuple[str, ...]
    connected: bool


class Node:
    def __init__(self, config: NodeConfig, host: IHost, relay: WakuRelay | None) -> None:
        self.config = config
        self.host = host
        self.relay = relay
        # Service protocols, each None unless configured (see _start_services).
        self.store: Any = None  # protocols.store.service.StoreService
        self.filter: Any = None  # protocols.filter.service.FilterService
        self.lightpush: Any = None  # protocols.lightpush.service.LightpushService
        self.peer_exchange: Any = None  # protocols.peer_exchange.service.PeerExchangeService
        self.metadata: Any = None  # protocols.metadata.service.MetadataService
        # Clients of the service peers (light mode, and REST client endpoints); None without any.
        self.light: LightClient | None = None
        self.filter_client: Any = None  # the light client's FilterClient: one per host
        self.rest: RestServer | None = None
        self.rest_url: str | None = None
        self.local_enr = LocalEnr(self)
        self.metrics_url: str | None = None
        self.started_at = trio.current_time()

    @property
    def peer_id(self) -> str:
        return str(self.host.get_id())

    @property
    def enr(self) -> Enr | None:
        """Our signed ENR (None for an ed25519-keyed node: v4 records are secp256k1 only)."""
        return self.local_enr.current()

    @property
    def enr_uri(self) -> str | None:
        return self.local_enr.uri

    @property
    def version(self) -> str:
        return __version__

    def listen_addrs(self) -> list[str]:
        """Addresses peers can dial us at, each ending in /p2p/<peer id> (a 0.0.0.0 listener is
        listed once per IPv4 interface)."""
        peer = self.peer_id
        out = []
        for addr in self.host.get_addrs():
            text = str(addr)
            out.append(text if "/p2p/" in text else f"{text}/p2p/{peer}")
        return expand_wildcards(out)

    async def connect(self, multiaddr: str, timeout: float = DIAL_TIMEOUT) -> str:
        """Dial a peer at ``multiaddr`` (which must end in /p2p/<id>); returns its peer id."""
        info = info_from_p2p_addr(parse_multiaddr(multiaddr, what="peer address", need_peer_id=True))
        if info.peer_id == self.host.get_id():
            raise ConfigError(f"{multiaddr} is this node itself")
        try:
            with trio.fail_after(timeout):
                await self.host.connect(info)
        except trio.TooSlowError:
            raise PeerUnreachable(f"dialing {multiaddr} timed out after {timeout} s") from None
        except Exception as exc:  # py-libp2p reports dial failures with many exception types
            raise PeerUnreachable(f"could not connect to {multiaddr}: {exc}") from None
        return str(info.peer_id)

    async def disconnect(self, peer_id: str) -> None:
        await self.host.disconnect(ID.from_base58(peer_id))

    def connected_peer_ids(self) -> list[str]:
        return [str(p) for p, conns in self.host.get_network().connections.items() if conns]

    def peers(self) -> list[PeerSummary]:
        store = self.host.get_peerstore()
        connected = set(self.connected_peer_ids())
        out = []
        for peer_id in store.peer_ids():
            if peer_id == self.host.get_id():
                continue
            try:
                protocols = tuple(str(p) for p in store.get_protocols(peer_id))
            except Exception:  # no protocol record yet
                protocols = ()
            addrs = tuple(str(a) for a in store.addrs(peer_id)) if store.addrs(peer_id) else ()
            out.append(PeerSummary(str(peer_id), addrs, protocols, str(peer_id) in connected))
        return out

    async def wait_for_peers(self, count: int, timeout: float = 10.0) -> None:
        with trio.fail_after(timeout):
            while len(self.connected_peer_ids()) < count:
                await trio.sleep(0.02)

    def statistics(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"peer_id": self.peer_id, "connected_peers": len(self.connected_peer_ids())}
        if self.relay is not None:
            stats["relay"] = self.relay.statistics()
        for name in SERVICE_NAMES:
            service = getattr(self, name)
            if service is not None:
                stats[name] = service.statistics()
        if self.rest is not None:
            stats["rest"] = self.rest.statistics()
        return stats

    async def _keep_static_peer(self, multiaddr: str) -> None:
        """Stay connected to a configured peer, redialing with exponential backoff."""
        wait, longest = STATIC_PEER_RETRY
        peer_id = ID.from_base58(parse_multiaddr(multiaddr).get_peer_id() or "")
        while True:
            if not self.host.get_network().connections.get(peer_id):
                try:
                    await self.connect(multiaddr)
                    log.info("connected to %s", multiaddr)
                    wait = STATIC_PEER_RETRY[0]
                except PeerUnreachable as exc:
                    log.warning("%s; retrying in %.0f s", exc, wait)
                    await trio.sleep(wait)
                    wait = min(wait * 2, longest)
                    continue
            await trio.sleep(STATIC_PEER_RETRY[0])


@asynccontextmanager
async def open_node(config: NodeConfig) -> AsyncIterator[Node]:
    """Start a node and stop it (closing every listener and connection) on exit."""
    data_dir = config.resolved_data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(f"data dir {data_dir}: {exc.strerror}") from None
    key_pair = load_or_create_key_pair(config.resolved_key_file, config.key_type)
    listen = [parse_multiaddr(a, what="listen address") for a in config.listen]
    check_listen_addrs(listen)
    host = build_host(key_pair)
    relay = None if config.light else _build_relay(config, host)
    node = Node(config, host, relay)
    try:
        # The host must outlive our nursery: cancelling a scope around py-libp2p's cleanup
        # turns the caller's exception into a Cancelled that the scope then swallows.
        async with _run_host(host, listen), trio.open_nursery() as nursery:
            if relay is not None:
                await nursery.start(relay.run)
            # services attach to the relay before it joins any mesh, so no message slips past them
            await _start_services(node, nursery)
            if relay is not None:
                for topic in config.pubsub_topics():
                    relay.subscribe(topic)
            await _start_apis(node, nursery)
            for addr in dict.fromkeys((*config.peers, *config.service_peers)):
                nursery.start_soon(node._keep_static_peer, addr)
            try:
                yield node
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # Nurseries (ours and py-libp2p's) wrap what the caller raised; give it back as raised.
        sole = _sole_exception(group)
        if sole is None:
            raise
        raise sole from None


def _sole_exception(group: BaseExceptionGroup) -> BaseException | None:
    while len(group.exceptions) == 1:
        inner = group.exceptions[0]
        if not isinstance(inner, BaseExceptionGroup):
            return inner
        group = inner
    return None


@asynccontextmanager
async def _run_host(host: IHost, listen: list[Any]) -> AsyncIterator[None]:
    async with host.run(listen_addrs=listen):
        # py-libp2p logs a failed listen at debug level and carries on: refuse to run deaf.
        listeners = host.get_network().listeners
        for addr in listen:
            if str(addr) not in listeners:
                raise ConfigError(f"cannot listen on {addr}: no transport could bind it")
        try:
            yield
        finally:
            # host.run() only stops the swarm service; connections must be closed explicitly
            # or peers keep a half-dead connection until their keep-alive notices.
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                await host.close()


def _build_relay(config: NodeConfig, host: IHost) -> WakuRelay | None:
    rc = config.relay
    if rc is None:
        return None
    params = gossip_params(rc.d, rc.d_low, rc.d_high, rc.heartbeat_interval, rc.flood_publish)
    return WakuRelay(
        host,
        cluster_id=config.cluster_id,
        num_shards=config.num_shards_in_cluster,
        params=params,
        max_timestamp_drift=rc.max_timestamp_drift,
        subscriber_buffer=rc.subscriber_buffer,
        publish_timeout=rc.publish_timeout,
        rng=random.SystemRandom(),
    )


async def _start_services(node: Node, nursery: trio.Nursery) -> None:
    """The Waku service protocols, each mounted only when configured. Every service class takes
    ``(node, its config)``, runs with ``run(task_status=...)`` and offers ``statistics()``."""
    from ..protocols.metadata.service import MetadataService

    # metadata runs on every node: peers of another cluster are disconnected, and js-waku needs
    # our cluster and shards to use us at all
    node.metadata = MetadataService(node)
    await nursery.start(node.metadata.run)
    config = node.config
    if config.light or config.service_peers:
        node.light = LightClient(node)
        node.filter_client = node.light.filter
        await nursery.start(node.light.run)
    if config.light:
        return  # a light node relays nothing and serves nothing; it uses its service peers
    if node.relay is None:
        needing_relay = [n for n in ("store", "filter", "lightpush") if getattr(config, n) is not None]
        if needing_relay:
            log.warning("relay is off, so %s (which serve what the relay carries) are not mounted",
                        ", ".join(needing_relay))
    else:
        await _start_relay_services(node, nursery)
    if config.peer_exchange is not None:
        from ..protocols.peer_exchange.service import PeerExchangeService

        node.peer_exchange = PeerExchangeService(node, config.peer_exchange)
        await nursery.start(node.peer_exchange.run)


async def _start_relay_services(node: Node, nursery: trio.Nursery) -> None:
    config = node.config
    if config.store is not None:
        from ..protocols.store.service import StoreService

        node.store = StoreService(node, config.store)
        await nursery.start(node.store.run)
    if config.filter is not None:
        from ..protocols.filter.service import FilterService

        node.filter = FilterService(node, config.filter)
        await nursery.start(node.filter.run)
    if config.lightpush is not None:
        from ..protocols.lightpush.service import LightpushService

        node.lightpush = LightpushService(node, config.lightpush)
        await nursery.start(node.lightpush.run)


async def _start_apis(node: Node, nursery: trio.Nursery) -> None:
    """REST API and metrics, each mounted only when configured."""
    if node.config.rest is not None:
        from ..api.rest import RestServer

        node.rest = RestServer(node, node.config.rest)
        node.rest_url = await nursery.start(node.rest.run)
    if node.config.metrics is not None:
        from ..api.metrics import MetricsServer

        metrics = MetricsServer(node, node.config.metrics)
        node.metrics_url = await nursery.start(metrics.run)
