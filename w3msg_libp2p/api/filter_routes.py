"""/filter/v2/...: our node as a filter CLIENT of a service peer, as nwaku serves these routes.

The service peer is, in order: the request's ``peerAddr`` (our extension; nwaku has no such
field), a peer already holding our subscriptions, the first configured service peer, or a
connected peer that advertises filter-subscribe. With none: 503, worded as nwaku words it.
Subscription answers are nwaku's FilterSubscriptionResponse ``{"requestId", "statusDesc"}`` with
the service's status as the HTTP status. Pushed messages are kept per content topic (and per
pubsub topic + content topic, for go-waku's route) until polled. Details: docs/filter.md.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio
from quart import Response, current_app, g, request
from quart_trio import QuartTrio
from werkzeug.routing import PathConverter

from ..core.errors import ConfigError, PeerUnreachable, TopicError
from ..core.message import Envelope, WakuMessage
from ..core.topics import parse_pubsub_topic
from ..protocols.filter.client import FilterClient, FilterError
from ..protocols.filter.rpc import FILTER_SUBSCRIBE, Status, describe
from .cache import TopicCache
from .parsing import Refused, is_content_topic, parse_json_body, parse_peer_addrs
from .responses import json_response, text_response

if TYPE_CHECKING:
    from ..node.node import Node

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 5.0  # nwaku's futTimeoutForSubscriptionProcessing
DEFAULT_CACHE_CAPACITY = 1000
NO_PEER = "No suitable service peer & no discovery method"  # nwaku's wording


class _TopicsConverter(PathConverter):
    """The rest of the path, slashes included (topics start with '/' once decoded)."""

    regex = ".+"
    part_isolating = False


# -- request bodies (pure) ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FilterRequestBody:
    request_id: str
    content_topics: tuple[str, ...] = ()
    pubsub_topic: str | None = None
    peer_addr: str | None = None


def parse_filter_body(body: bytes, content_type: str | None, *, need_topics: bool) -> FilterRequestBody:
    """A FilterSubscribeRequest / FilterUnsubscribeRequest (``need_topics``) or a
    FilterUnsubscribeAllRequest, read as nwaku reads them: ``requestId`` required,
    ``contentFilters`` required and non-empty, an empty ``pubsubTopic`` means none, unknown
    fields ignored. Raises Refused (400)."""
    value = parse_json_body(body, content_type)
    if not isinstance(value, dict):
        raise Refused("expected a JSON object", reason="bad_json")
    request_id = value.get("requestId")
    if not isinstance(request_id, str):
        raise Refused("Field `requestId` is missing", reason="missing_field")
    topics: tuple[str, ...] = ()
    pubsub_topic = None
    if need_topics:
        filters = value.get("contentFilters")
        if filters is None:
            raise Refused("Field `contentFilters` is missing", reason="missing_field")
        if not isinstance(filters, list) or not all(isinstance(t, str) for t in filters):
            raise Refused("Field `contentFilters` must be an array of strings", reason="bad_field")
        if not filters:
            raise Refused("Field `contentFilters` is empty", reason="missing_field")
        topics = tuple(dict.fromkeys(filters))
        pubsub = value.get("pubsubTopic")
        if pubsub is not None and not isinstance(pubsub, str):
            raise Refused("Field `pubsubTopic` must be a string", reason="bad_field")
        pubsub_topic = pubsub or None
    peer_addr = value.get("peerAddr")
    if peer_addr is not None:
        if not isinstance(peer_addr, str):
            raise Refused("Field `peerAddr` must be a string", reason="bad_field")
        parse_peer_addrs([peer_addr])
    return FilterRequestBody(request_id, topics, pubsub_topic, peer_addr)


def split_topics_path(path: str) -> tuple[str | None, str] | None:
    """``{contentTopic}`` or ``{pubsubTopic}/{contentTopic}`` (each URL-encoded or not) from what
    follows /filter/v2/messages/; None if it is neither."""
    if is_content_topic(path):
        return None, path
    for i in range(1, len(path)):
        if path[i] != "/":
            continue
        left = path[:i]
        for right in (path[i + 1:], path[i:]):  # "ps/ct" with ct's own leading slash, or merged
            if right.startswith("/") and is_content_topic(right) and _is_pubsub_topic(left):
                return left, right
    return None


def _is_pubsub_topic(topic: str) -> bool:
    try:
        parse_pubsub_topic(topic)
    except TopicError:
        return False
    return True


def filter_message_json(message: WakuMessage) -> dict[str, Any]:
    """nwaku's FilterWakuMessage (no ``proof``; ``meta`` only when non-empty)."""
    out: dict[str, Any] = {
        "payload": base64.b64encode(message.payload).decode("ascii"),
        "contentTopic": message.content_topic,
        "version": message.version or 0,
        "timestamp": message.timestamp or 0,
    }
    if message.meta:
        out["meta"] = base64.b64encode(message.meta).decode("ascii")
    out["ephemeral"] = bool(message.ephemeral)
    return out


def http_status(status_code: int) -> int:
    """nwaku's convertErrorKindToHttpStatus, except that a status it does not know is a bad
    response (500) here rather than 200."""
    if status_code in (Status.BAD_REQUEST, Status.NOT_FOUND, Status.TOO_MANY_REQUESTS,
                       Status.SERVICE_UNAVAILABLE, Status.PEER_DIAL_FAILURE):
        return status_code
    return 200 if status_code == Status.OK else 500


# -- the API -----------------------------------------------------------------------------------
class FilterRestApi:
    def __init__(self, node: Node, client: FilterClient | None = None) -> None:
        self.node = node
        shared = client or getattr(node, "filter_client", None)
        # a client the node runs is the node's; one made here is run by the REST app
        self.owns_client = shared is None
        self.client: FilterClient = shared or FilterClient(
            node.host, cluster_id=node.config.cluster_id, num_shards=node.config.num_shards_in_cluster)
        capacity = node.config.rest.cache_capacity if node.config.rest else DEFAULT_CACHE_CAPACITY
        self.by_content = TopicCache(capacity)
        self.by_pair = TopicCache(capacity)
        self.client.listeners.append(self._on_push)
        self._keepalive: trio.CancelScope | None = None

    def _on_push(self, env: Envelope) -> None:
        self.by_content.add(env.message.content_topic, env.message)
        self.by_pair.add(_pair(env.pubsub_topic, env.message.content_topic), env.message)

    def start_keepalive(self) -> None:
        """Run our own client's keep-alive in the app's background nursery (from the first
        filter request on: routes may be installed after the app started serving)."""
        if not self.owns_client or self._keepalive is not None:
            return
        nursery: trio.Nursery | None = getattr(current_app, "nursery", None)
        if nursery is None:
            log.warning("filter REST: no background nursery; subscriptions are not kept alive")
            return
        self._keepalive = trio.CancelScope()
        nursery.start_soon(self._run_client, self._keepalive)

    async def _run_client(self, scope: trio.CancelScope) -> None:
        with scope:
            await self.client.run()

    def stop_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()

    def select_peer(self, peer_addr: str | None) -> str | None:
        if peer_addr:
            return peer_addr
        if self.client.service_peers:
            return self.client.service_peers[0]
        if self.node.config.service_peers:
            return self.node.config.service_peers[0]
        for summary in self.node.peers():
            if summary.connected and FILTER_SUBSCRIBE in summary.protocols:
                return summary.peer_id
        return None

    def watch(self, pubsub_topic: str | None, content_topics: tuple[str, ...]) -> None:
        for topic, topics in self.client.group_by_pubsub_topic(content_topics, pubsub_topic).items():
            for ct in topics:
                self.by_content.watch(ct)
                self.by_pair.watch(_pair(topic, ct))

    def unwatch(self, pubsub_topic: str | None, content_topics: tuple[str, ...]) -> None:
        for topic, topics in self.client.group_by_pubsub_topic(content_topics, pubsub_topic).items():
            for ct in topics:
                self.by_content.unwatch(ct)
                self.by_pair.unwatch(_pair(topic, ct))

    def unwatch_all(self) -> None:
        for cache in (self.by_content, self.by_pair):
            for key in cache.keys:
                cache.unwatch(key)


def _pair(pubsub_topic: str, content_topic: str) -> str:
    return f"{pubsub_topic}\n{content_topic}"


def subscription_response(request_id: str, status: int, description: str, reason: str | None = None) -> Response:
    if status >= 400:
        g.refusal_reason = reason or f"status_{status}"
    return json_response({"requestId": request_id, "statusDesc": description}, http_status(status))


async def _read_body(need_topics: bool) -> FilterRequestBody:
    body = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    return parse_filter_body(body, request.headers.get("Content-Type"), need_topics=need_topics)


async def _run(api: FilterRestApi, request_id: str, peer_addr: str | None,
               call: Callable[[str], Awaitable[None]]) -> Response | None:
    """Run one client call against the selected service peer; the error response, or None."""
    peer = api.select_peer(peer_addr)
    if peer is None:
        return subscription_response(request_id, Status.SERVICE_UNAVAILABLE,
                                     describe(Status.SERVICE_UNAVAILABLE, NO_PEER), "no_service_peer")
    api.start_keepalive()
    try:
        with trio.move_on_after(REQUEST_TIMEOUT) as timer:
            await call(peer)
    except FilterError as exc:
        return subscription_response(request_id, exc.status_code, exc.description)
    except PeerUnreachable as exc:
        log.debug("filter REST: %s", exc)
        return subscription_response(request_id, Status.PEER_DIAL_FAILURE,
                                     describe(Status.PEER_DIAL_FAILURE, peer), "peer_unreachable")
    except (TopicError, ConfigError) as exc:
        return subscription_response(request_id, Status.BAD_REQUEST, describe(Status.BAD_REQUEST, str(exc)),
                                     "invalid_topic")
    if timer.cancelled_caught:
        return subscription_response(request_id, Status.SERVICE_UNAVAILABLE,
                                     describe(Status.SERVICE_UNAVAILABLE, "Subscription request timed out"),
                                     "timeout")
    return None


def install_filter_routes(app: QuartTrio, node: Node) -> None:
    api = FilterRestApi(node)
    app.url_map.converters.setdefault("filtertopics", _TopicsConverter)
    app.after_serving(api.stop_keepalive)

    async def decode(need_topics: bool) -> FilterRequestBody | Response:
        try:
            return await _read_body(need_topics)
        except Refused as exc:
            return subscription_response("unknown", Status.BAD_REQUEST,
                                         describe(Status.BAD_REQUEST, f"Failed to decode request: {exc}"),
                                         exc.reason)

    async def subscribe() -> Response:
        body = await decode(need_topics=True)
        if isinstance(body, Response):
            return body

        async def call(peer: str) -> None:
            await api.client.subscribe(peer, body.content_topics, body.pubsub_topic)

        failed = await _run(api, body.request_id, body.peer_addr, call)
        if failed is not None:
            return failed
        api.watch(body.pubsub_topic, body.content_topics)
        return subscription_response(body.request_id, Status.OK, "OK")

    app.post("/filter/v2/subscriptions")(subscribe)
    app.put("/filter/v2/subscriptions", endpoint="put_filter_subscriptions")(subscribe)

    @app.delete("/filter/v2/subscriptions")
    async def unsubscribe() -> Response:
        body = await decode(need_topics=True)
        if isinstance(body, Response):
            return body

        async def call(peer: str) -> None:
            api.unwatch(body.pubsub_topic, body.content_topics)
            await api.client.unsubscribe(peer, body.content_topics, body.pubsub_topic)

        return await _run(api, body.request_id, body.peer_addr, call) or \
            subscription_response(body.request_id, Status.OK, "OK")

    @app.delete("/filter/v2/subscriptions/all")
    async def unsubscribe_all() -> Response:
        body = await decode(need_topics=False)
        if isinstance(body, Response):
            return body

        async def call(peer: str) -> None:
            api.unwatch_all()
            await api.client.unsubscribe_all(peer)

        return await _run(api, body.request_id, body.peer_addr, call) or \
            subscription_response(body.request_id, Status.OK, "OK")

    @app.get("/filter/v2/subscriptions/<requestId>")
    async def ping(requestId: str) -> Response:
        return await _run(api, requestId, None, api.client.ping) or \
            subscription_response(requestId, Status.OK, "OK")

    @app.get("/filter/v2/messages/<filtertopics:topics>")
    async def get_filter_messages(topics: str) -> Response:
        split = split_topics_path(topics)
        if split is None:
            return refusal(f"Invalid topic(s): {topics}", 400, "invalid_topic")
        pubsub_topic, content_topic = split
        if pubsub_topic is None:  # nwaku: 400 when not subscribed
            messages = api.by_content.take(content_topic)
            if messages is None:
                return refusal(f"Not subscribed to topic: {content_topic}", 400, "not_subscribed")
        else:  # go-waku's route: 404 when not subscribed
            messages = api.by_pair.take(_pair(pubsub_topic, content_topic))
            if messages is None:
                return refusal(f"Not subscribed to topic: {pubsub_topic} {content_topic}", 404, "not_subscribed")
        return json_response([filter_message_json(m) for m in messages])

    app.extensions["w3msg_filter_api"] = api  # for statistics and tests


def refusal(text: str, status: int, reason: str) -> Response:
    g.refusal_reason = reason
    return text_response(text, status)
