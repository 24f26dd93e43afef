"""`w3msg-node run`: start the node, announce it on stdout, report status, stop on a signal.

stdout carries machine-readable output (the start line) and status lines; logs go to stderr.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from typing import Any, TextIO

import trio

from .node.config import NodeConfig
from .node.node import Node, open_node

log = logging.getLogger("w3msg_libp2p.cli")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def run_node(config: NodeConfig, status_interval: float) -> None:
    _setup_logging(config.log_level)
    trio.run(serve, config, status_interval, sys.stdout)


# Failures the node reports itself, in its own words: a listener that cannot bind (ConfigError),
# a dial that fails (PeerUnreachable, and the static-peer redial warning), and a stream a peer
# will not open (e.g. a peer without relay: counted as outbound_stream_failed; py-libp2p logs
# each at ERROR with a multi-line dump).
_REPORTED_BY_THE_NODE = ("libp2p.transport.tcp.tcp", "libp2p.host.basic_host")
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _setup_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=_LEVELS[level], format=_FORMAT)
    logging.getLogger("multiaddr").setLevel(max(logging.INFO, _LEVELS[level]))  # byte-level debug spam
    # py-libp2p detaches its loggers from the root (their records would reach stderr unformatted,
    # through logging's last resort) and pins some at INFO, where it narrates every dial: give it
    # a handler of its own whose level holds below debug.
    libp2p = logging.getLogger("libp2p")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(_LEVELS[level] if level == "debug" else max(logging.WARNING, _LEVELS[level]))
    libp2p.handlers[:] = [handler]
    libp2p.propagate = False
    libp2p.setLevel(_LEVELS[level])
    if level != "debug":
        for name in _REPORTED_BY_THE_NODE:
            logging.getLogger(name).setLevel(logging.CRITICAL)


async def serve(config: NodeConfig, status_interval: float, out: TextIO) -> None:
    """Run the node until SIGINT or SIGTERM, which end it cleanly (and this returns normally)."""
    async with trio.open_nursery() as nursery:
        await nursery.start(_cancel_on_signal, nursery.cancel_scope)
        async with open_node(config) as node:
            _emit(out, json.dumps(start_line(node)))
            if status_interval > 0:
                while True:
                    await trio.sleep(status_interval)
                    _emit(out, status_line(node))
            else:
                await trio.sleep_forever()


async def _cancel_on_signal(scope: trio.CancelScope, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            log.info("received %s: stopping", signal.Signals(signum).name)
            scope.cancel()
            return


def _emit(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def start_line(node: Node) -> dict[str, Any]:
    return {"peer_id": node.peer_id, "multiaddrs": node.listen_addrs(), "rest": node.rest_url,
            "metrics": node.metrics_url}


def status_line(node: Node) -> str:
    peers = len(node.connected_peer_ids())
    if node.relay is None:
        return f"status: connected peers {peers}; relay off"
    stats = node.relay.statistics()
    topics = ", ".join(f"{topic} (mesh {t['mesh']}, peers {t['peers']})"
                       for topic, t in stats["topics"].items())
    return (f"status: connected peers {peers}; topics {topics or 'none'}; messages relayed "
            f"{stats['messages_forwarded']}, received {stats['messages_received']}, published "
            f"{stats['messages_published']}, dropped {sum(stats['drops'].values())}")
