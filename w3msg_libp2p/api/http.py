"""Serving an ASGI app with hypercorn's trio worker inside the caller's nursery.

We bind the listening socket ourselves (rather than letting hypercorn do it) so that a port in
use is a ConfigError with one clear line, port 0 reports the port actually bound, and the socket
is closed when the server is cancelled.
"""

from __future__ import annotations

import logging
import socket
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.typing import Framework
from hypercorn.utils import wrap_app

from ..core.errors import ConfigError

log = logging.getLogger(__name__)

BACKLOG = 128


def bind_listener(address: str, port: int, what: str) -> socket.socket:
    """A listening TCP socket on ``address:port`` (0: any free port)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind across restarts (TIME_WAIT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((address, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        host = f"[{address}]" if family == socket.AF_INET6 else address
        raise ConfigError(f"{what}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


async def serve_asgi(
    app: Framework, sock: socket.socket, *, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve ``app`` on the bound ``sock``; ``task_status.started(url)``; close ``sock`` on exit."""
    config = Config()
    config.errorlog = log  # hypercorn would otherwise install its own stderr handler
    config.accesslog = None
    config.graceful_timeout = 1.0
    try:
        async with trio.open_nursery() as nursery:
            serve = partial(worker_serve, wrap_app(app, config.wsgi_max_body_size, "asgi"), config,
                            sockets=Sockets([], [sock], []))
            binds: list[str] = await nursery.start(serve)
            task_status.started(binds[0])
    finally:
        sock.close()
