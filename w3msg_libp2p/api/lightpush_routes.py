"""/lightpush/v1/message (legacy, lightpush v2 underneath) and /lightpush/v3/message, as nwaku
serves them.

Both make this node a lightpush *client*: the message goes to a service peer, chosen as nwaku's
peer manager chooses (a configured service peer first, else a known peer that speaks the
protocol). Where nwaku would answer 503 for want of such a peer, a node that serves lightpush
itself handles the push on its own relay (nwaku's "self-hosted lightpush" path).
Request: ``{"pubsubTopic"?: str, "message": RelayWakuMessage}``; an absent or empty topic means
autosharding. v3 answers JSON ``{"statusDesc"?, "relayPeerCount"?}`` with the lightpush status as
HTTP status; v1 answers text/plain. See docs/lightpush.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio
from quart import Response, g
from quart_trio import QuartTrio

from ..core.errors import PeerUnreachable, RemoteProtocolError, TopicError
from ..core.message import WakuMessage
from ..net.addresses import parse_multiaddr
from ..protocols.lightpush.client import LightpushClient
from ..protocols.lightpush.rpc import LIGHTPUSH_V2, LIGHTPUSH_V3, LightpushRefused, LightpushStatus
from ..protocols.lightpush.server import PushOutcome, v2_info
from .parsing import Refused, parse_relay_message
from .responses import json_response, ok, read_json, text_response

if TYPE_CHECKING:
    from ..node.node import Node

log = logging.getLogger(__name__)

PUSH_TIMEOUT = 5.0  # nwaku's FutTimeoutForPushRequestProcessing
NO_PEER_TEXT = "No suitable service peer & no discovery method"
TIMEOUT_TEXT = "Push request timed out"
V1_TOO_MANY_REQUESTS_TEXT = "Request rate limmit reached"  # sic: nwaku's text


# -- pure parts -------------------------------------------------------------------------------
def parse_push_request(value: Any, now_ns: int) -> tuple[str | None, WakuMessage]:
    """nwaku's PushRequest: ``message`` required, ``pubsubTopic`` optional ("" = absent)."""
    if not isinstance(value, dict):
        raise Refused("Invalid content body, could not decode: expected a JSON object (PushRequest)",
                      reason="bad_json")
    topic = value.get("pubsubTopic")
    if topic is not None and not isinstance(topic, str):
        raise Refused("Invalid content body, could not decode: Field `pubsubTopic` must be a string",
                      reason="bad_field")
    if "message" not in value:
        raise Refused("Invalid content body, could not decode: Field `message` is missing", reason="missing_field")
    return topic or None, parse_relay_message(value["message"], now_ns)


def v3_body(outcome: PushOutcome) -> tuple[dict[str, Any], int]:
    """The v3 JSON answer and its HTTP status (lightpush codes are HTTP codes by design)."""
    if outcome.ok:
        return {"relayPeerCount": outcome.relay_peer_count or 0}, 200
    return {"statusDesc": outcome.description or ""}, outcome.status


def v1_text(outcome: PushOutcome) -> tuple[str, int]:
    if outcome.ok:
        return "OK", 200
    if outcome.status == LightpushStatus.TOO_MANY_REQUESTS:
        return V1_TOO_MANY_REQUESTS_TEXT, 429
    return f"Failed to request a message push: {v2_info(outcome)}", 503


# -- pushing ----------------------------------------------------------------------------------
@dataclass
class LightpushRestApi:
    node: Node
    client: LightpushClient

    @classmethod
    def for_node(cls, node: Node) -> LightpushRestApi:
        config = node.config
        client = LightpushClient(node.host, cluster_id=config.cluster_id, num_shards=config.num_shards_in_cluster,
                                 timeout=PUSH_TIMEOUT)
        return cls(node, client)

    async def push(self, protocol: str, pubsub_topic: str | None, message: WakuMessage) -> PushOutcome:
        with trio.move_on_after(PUSH_TIMEOUT):
            return await self._push(protocol, pubsub_topic, message)
        return PushOutcome(LightpushStatus.NO_PEERS_TO_RELAY, TIMEOUT_TEXT)

    async def _push(self, protocol: str, pubsub_topic: str | None, message: WakuMessage) -> PushOutcome:
        peer = await self.service_peer(protocol)
        if peer is None:
            if self.node.lightpush is not None:
                outcome: PushOutcome = await self.node.lightpush.push(pubsub_topic, message)
                return outcome
            return PushOutcome(LightpushStatus.NO_PEERS_TO_RELAY, NO_PEER_TEXT)
        try:
            result = await self.client.push(peer, message, pubsub_topic, protocols=(protocol,))
        except LightpushRefused as exc:
            return PushOutcome(exc.status_code, exc.description)
        except PeerUnreachable as exc:
            return PushOutcome(LightpushStatus.NO_PEERS_TO_RELAY, f"Peer is not accessible: {exc}")
        except TopicError as exc:
            return PushOutcome(LightpushStatus.BAD_REQUEST, str(exc))
        except RemoteProtocolError as exc:  # a malformed answer
            return PushOutcome(LightpushStatus.INTERNAL_SERVER_ERROR, str(exc))
        return PushOutcome(int(LightpushStatus.SUCCESS), None, result.relay_peer_count)

    async def service_peer(self, protocol: str) -> str | None:
        """A configured service peer we can reach, else a known peer that speaks ``protocol``
        (connected ones first)."""
        for addr in self.node.config.service_peers:
            peer_id = str(parse_multiaddr(addr).get_peer_id())
            if peer_id in self.node.connected_peer_ids():
                return peer_id
            try:
                return await self.node.connect(addr)
            except PeerUnreachable as exc:
                log.info("lightpush service peer %s unreachable: %s", addr, exc)
        candidates = [p for p in self.node.peers() if protocol in p.protocols]
        candidates.sort(key=lambda p: not p.connected)
        return candidates[0].peer_id if candidates else None


# -- routes -----------------------------------------------------------------------------------
def install_lightpush_routes(app: QuartTrio, node: Node) -> None:
    api = LightpushRestApi.for_node(node)

    @app.post("/lightpush/v1/message")
    async def post_v1() -> Response:
        pubsub_topic, message = parse_push_request(await read_json(), _now_ns(node))
        text, status = v1_text(await api.push(LIGHTPUSH_V2, pubsub_topic, message))
        if status != 200:
            g.refusal_reason = "push_failed" if status != 429 else "rate_limited"
            return text_response(text, status)
        return ok()

    @app.post("/lightpush/v3/message")
    async def post_v3() -> Response:
        try:
            pubsub_topic, message = parse_push_request(await read_json(), _now_ns(node))
        except Refused as exc:  # v3 answers JSON even to a bad request
            g.refusal_reason = exc.reason
            return json_response({"statusDesc": f"Invalid push request! {exc}"}, 400)
        outcome = await api.push(LIGHTPUSH_V3, pubsub_topic, message)
        body, status = v3_body(outcome)
        if not outcome.ok:
            g.refusal_reason = f"lightpush_{_status_name(status)}"
        return json_response(body, status)


def _now_ns(node: Node) -> int:
    return time.time_ns() if node.relay is None else node.relay.wall_clock_ns()


def _status_name(status: int) -> str:
    try:
        return LightpushStatus(status).name.lower()
    except ValueError:
        return f"status_{status}"
