"""Connection events from py-libp2p's network, as two plain callbacks."""

from __future__ import annotations

from collections.abc import Callable

from libp2p.abc import INetConn, INetStream, INetwork, INotifee
from multiaddr import Multiaddr

ConnHandler = Callable[[INetConn], None]


def _ignore(conn: INetConn) -> None:
    return None


class ConnectionEvents(INotifee):
    """Calls ``on_connected`` / ``on_disconnected`` synchronously with the connection; stream and
    listener events are ignored. Register with ``host.get_network().register_notifee(...)``."""

    def __init__(self, on_connected: ConnHandler = _ignore, on_disconnected: ConnHandler = _ignore) -> None:
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self.on_connected(conn)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self.on_disconnected(conn)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def listen(self, network: INetwork, multiaddr: Multiaddr) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: Multiaddr) -> None:
        pass
