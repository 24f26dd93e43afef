"""nwaku-compatible REST API (the waku-org/waku-rest-api OpenAPI) on quart-trio + hypercorn.

Routes stay thin: bodies are parsed by the pure functions in ``parsing``; the relay work is in
``relay_routes.RelayApi``. Every refused request (status >= 400) is counted by endpoint and
reason for the metrics endpoint. Paths, shapes, codes and deviations: docs/rest.md.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio
from quart import Response, g, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from ..node.config import RestConfig
from .admin_routes import install_admin_routes
from .cache import MessageCache
from .filter_routes import install_filter_routes
from .http import bind_listener, serve_asgi
from .lightpush_routes import install_lightpush_routes
from .parsing import Refused
from .relay_routes import RelayApi, install_relay_routes
from .responses import json_response, text_response
from .store_routes import install_store_routes

if TYPE_CHECKING:
    from ..node.node import Node

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # a 150 KiB WakuMessage is ~200 KiB as base64 JSON
UNKNOWN_ROUTE_TEXT = "Bad request initiated. Invalid path or method used."  # nwaku's answer
RELAY_NOT_MOUNTED_TEXT = "/relay endpoints are not available. Please check your configuration: --relay"
_PATH_PARAM = re.compile(r"<(?:[^:>]+:)?([^>]+)>")



class TopicConverter(PathConverter):
    """A whole topic in the path: URL-encoded (%2F) or not, it starts with '/' once decoded."""

    regex = ".+"
    part_isolating = False


@dataclass
class RestStats:
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)  # (endpoint, status)
    refusals: Counter[tuple[str, str]] = field(default_factory=Counter)  # (endpoint, reason)


class RestServer:
    def __init__(self, node: Node, config: RestConfig) -> None:
        self.node = node
        self.config = config
        self.stats = RestStats()
        self.cache = MessageCache(config.cache_capacity)
        self.relay_api = RelayApi(node.relay, self.cache, node.config.content_topics) if node.relay else None
        self.url: str | None = None
        # nwaku answers 404 with this text for the routes of a protocol it did not mount
        self._not_mounted = {"relay": RELAY_NOT_MOUNTED_TEXT} if self.relay_api is None else {}
        self.app = self._build_app()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``task_status.started("http://host:port")`` once listening."""
        sock = bind_listener(self.config.address, self.config.port, "REST API")
        try:
            async with trio.open_nursery() as nursery:
                if self.relay_api is not None:
                    await nursery.start(self.relay_api.run)
                self.url = await nursery.start(serve_asgi, self.app, sock)
                log.info("REST API listening on %s", self.url)
                task_status.started(self.url)
        finally:
            sock.close()

    def statistics(self) -> dict[str, Any]:
        requests: dict[str, dict[int, int]] = {}
        for (endpoint, status), n in self.stats.requests.items():
            requests.setdefault(endpoint, {})[status] = n
        refusals: dict[str, dict[str, int]] = {}
        for (endpoint, reason), n in self.stats.refusals.items():
            refusals.setdefault(endpoint, {})[reason] = n
        return {"url": self.url, "requests": requests, "refusals": refusals,
                "cache": self.cache.statistics()}

    # -- the quart app ---------------------------------------------------------------------
    def _build_app(self) -> QuartTrio:
        app = QuartTrio(__name__)
        app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
        app.url_map.converters["topic"] = TopicConverter
        app.url_map.merge_slashes = False  # "/relay/v1/messages//waku/2/rs/1/0" is a topic, not a typo
        install_node_routes(app, self.node)
        install_admin_routes(app, self.node)
        if self.relay_api is not None:
            install_relay_routes(app, self.relay_api)
        # store queries our archive or, with peerAddr, a remote store: useful on every node
        install_store_routes(app, self.node)
        install_lightpush_routes(app, self.node)
        install_filter_routes(app, self.node)
        app.register_error_handler(Refused, self._on_refused)
        app.register_error_handler(HTTPException, self._on_http_error)
        app.register_error_handler(Exception, self._on_internal_error)
        app.after_request(self._count)
        return app

    async def _on_refused(self, exc: Refused) -> Response:
        g.refusal_reason = exc.reason
        log.debug("REST %s refused (%s): %s", endpoint_label(), exc.reason, exc)
        return text_response(str(exc), exc.status_code)

    async def _on_http_error(self, exc: HTTPException) -> Response:
        code = exc.code or 500
        if code in (404, 405):
            root = request.path.split("/")[1]
            if root in self._not_mounted:
                g.refusal_reason = "not_mounted"
                return text_response(self._not_mounted[root], 404)
            g.refusal_reason = "unknown_route"
            return text_response(UNKNOWN_ROUTE_TEXT, 400)
        g.refusal_reason = "body_too_large" if code == 413 else f"http_{code}"
        return text_response(exc.description or exc.name, code)

    async def _on_internal_error(self, exc: Exception) -> Response:
        g.refusal_reason = "internal_error"
        log.exception("REST %s failed", endpoint_label())
        return text_response(f"Internal error: {exc}", 500)

    async def _count(self, response: Response) -> Response:
        endpoint = endpoint_label()
        self.stats.requests[(endpoint, response.status_code)] += 1
        if response.status_code >= 400:
            self.stats.refusals[(endpoint, g.get("refusal_reason", f"http_{response.status_code}"))] += 1
        return response


def endpoint_label() -> str:
    """"POST /relay/v1/messages/{pubsubTopic}": the route in nwaku's notation, not the raw path
    (topics in paths would make the metric's label set unbounded)."""
    rule = request.url_rule
    path = _PATH_PARAM.sub(r"{\1}", rule.rule) if rule is not None else "unmatched"
    return f"{request.method} {path}"


# -- /debug/v1/info, /debug/v1/version, /health -----------------------------------------------
def install_node_routes(app: QuartTrio, node: Node) -> None:
    @app.get("/debug/v1/info")
    @app.get("/info")  # nwaku's newer alias
    async def info() -> Response:
        return json_response(node_info(node))

    @app.get("/debug/v1/version")
    @app.get("/version")
    async def version() -> Response:
        return text_response(node.version)

    @app.get("/health")
    async def health() -> Response:
        return json_response(health_report(node))


def node_info(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"listenAddresses": node.listen_addrs()}
    enr = node.enr_uri  # omitted when the node has no ENR (an ed25519 key; docs/rest.md)
    if enr:
        out["enrUri"] = enr
    return out


def health_report(node: Node) -> dict[str, Any]:
    """nwaku's HealthReport: the node serves once started, so it is READY; relay is READY once
    it has a relay peer (nwaku's rule)."""
    relay = node.relay
    if relay is None:
        relay_health: dict[str, str] = {"Relay": "NOT_MOUNTED"}
    elif not relay.router.peers:
        relay_health = {"Relay": "NOT_READY", "desc": "No connected peers"}
    else:
        relay_health = {"Relay": "READY"}
    return {"nodeHealth": "READY", "protocolsHealth": [relay_health]}
