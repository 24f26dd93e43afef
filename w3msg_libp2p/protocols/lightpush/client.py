"""Lightpush client: ask a service node to publish a message for us (v3, or v2 if that is all the
peer speaks: multistream negotiation picks the version, then the request is built for it)."""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from ...core.errors import PeerUnreachable, RemoteProtocolError, TopicError
from ...core.message import WakuMessage, message_hash
from ...core.topics import autoshard_pubsub_topic
from ...net.reqresp import DEFAULT_TIMEOUT, STREAM_GONE, read_frame, write_frame
from . import codec
from .rpc import (
    DECODE_FAILURE,
    GO_WAKU_TOO_MANY_REQUESTS,
    LIGHTPUSH_PROTOCOLS,
    LIGHTPUSH_V3,
    V2_INFO_EMPTY_REQUEST,
    V2_INFO_NOT_PUBLISHED,
    V2_INFO_TOO_MANY_REQUESTS,
    LightpushRequest,
    LightpushStatus,
    PushRequest,
    PushRpc,
    refusal_error,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PushResult:
    peer: str
    protocol: str  # the lightpush version the peer answered on
    message: WakuMessage  # as sent (with the timestamp we filled in, if it had none)
    pubsub_topic: str | None  # as given, else the shard autosharding picks in our cluster
    relay_peer_count: int | None  # v3 only

    @property
    def hash(self) -> bytes | None:
        return None if self.pubsub_topic is None else message_hash(self.pubsub_topic, self.message)


def _new_request_id() -> str:
    return secrets.token_hex(10)


class LightpushClient:
    def __init__(
        self,
        host: IHost,
        *,
        cluster_id: int = 1,
        num_shards: int = 8,
        timeout: float = DEFAULT_TIMEOUT,
        wall_clock_ns: Callable[[], int] = time.time_ns,
        new_request_id: Callable[[], str] = _new_request_id,
    ) -> None:
        self.host = host
        self.cluster_id = cluster_id
        self.num_shards = num_shards
        self.timeout = timeout
        self.wall_clock_ns = wall_clock_ns
        self.new_request_id = new_request_id
        self.stats: Counter[str] = Counter()

    async def push(
        self,
        peer: str | ID,
        message: WakuMessage,
        pubsub_topic: str | None = None,
        *,
        protocols: tuple[str, ...] = LIGHTPUSH_PROTOCOLS,
    ) -> PushResult:
        """Push ``message``; ``pubsub_topic`` None lets the service node autoshard (v3) or
        autoshards here (v2). Raises LightpushRefused (typed by status code) when the service
        node refuses, PeerUnreachable when it cannot be asked, RemoteProtocolError when its
        answer is malformed, TopicError when a v2 push has no topic and an invalid content topic."""
        peer_id = peer if isinstance(peer, ID) else ID.from_base58(peer)
        if message.timestamp is None:  # nwaku and js-waku fill it in too: hashes need one
            message = _with_timestamp(message, self.wall_clock_ns())
        local_topic = pubsub_topic if pubsub_topic is not None else self._autoshard(message)
        request_id = self.new_request_id()

        def payload(protocol: str) -> bytes:
            if protocol == LIGHTPUSH_V3:
                return codec.encode_request(LightpushRequest(request_id, message, pubsub_topic))
            if local_topic is None:
                raise TopicError(f"cannot autoshard content topic {message.content_topic!r} for lightpush v2")
            return codec.encode_push_rpc(PushRpc(request_id, request=PushRequest(local_topic, message)))

        protocol, response = await self._exchange(peer_id, protocols, payload)
        try:
            count = self._check(str(peer_id), protocol, request_id, response)
        except RemoteProtocolError as exc:
            self.stats[f"refused_{exc.status_code}"] += 1
            raise
        self.stats["pushed"] += 1
        return PushResult(str(peer_id), protocol, message, local_topic, count)

    def _autoshard(self, message: WakuMessage) -> str | None:
        try:
            return autoshard_pubsub_topic(message.content_topic, self.cluster_id, self.num_shards)
        except TopicError:
            return None  # the service node will say what is wrong with it

    async def _exchange(
        self, peer_id: ID, protocols: tuple[str, ...], payload: Callable[[str], bytes]
    ) -> tuple[str, bytes]:
        try:
            with trio.fail_after(self.timeout):
                stream = await self._open(peer_id, protocols)
                try:
                    protocol = str(stream.get_protocol())
                    await write_frame(stream, payload(protocol))
                    return protocol, await read_frame(stream, codec.MAX_RESPONSE_BYTES)
                finally:
                    with contextlib.suppress(*STREAM_GONE):
                        await stream.close()
        except trio.TooSlowError:
            self.stats["timeout"] += 1
            raise PeerUnreachable(f"lightpush to {peer_id} timed out after {self.timeout} s") from None
        except STREAM_GONE as exc:
            self.stats["stream_error"] += 1
            raise PeerUnreachable(f"lightpush to {peer_id} failed: {exc}") from None

    async def _open(self, peer_id: ID, protocols: tuple[str, ...]) -> INetStream:
        try:
            return await self.host.new_stream(peer_id, [TProtocol(p) for p in protocols])
        except trio.TooSlowError:
            raise
        except Exception as exc:  # py-libp2p: dial errors, no common protocol, negotiation failures
            self.stats["unreachable"] += 1
            raise PeerUnreachable(f"cannot open lightpush to {peer_id}: {exc}") from None

    def _check(self, peer: str, protocol: str, request_id: str, response: bytes) -> int | None:
        """The relay peer count of a successful answer; raises for any other answer."""
        if protocol == LIGHTPUSH_V3:
            v3 = codec.decode_response(response)
            if v3.status_code != LightpushStatus.SUCCESS:
                raise refusal_error(v3.status_code, v3.status_desc or "", peer)
            if v3.request_id != request_id:
                raise RemoteProtocolError(f"lightpush answer from {peer} is for another request", 500)
            if not v3.relay_peer_count:  # as nwaku: success towards no peer is no success
                raise refusal_error(LightpushStatus.NO_PEERS_TO_RELAY, v3.status_desc or "relayed to no peer", peer)
            return v3.relay_peer_count
        v2 = codec.decode_push_rpc(response).response
        if v2 is None:
            raise RemoteProtocolError(f"lightpush v2 answer from {peer} has no response", 400)
        if not v2.is_success:
            info = v2.info or ""
            raise refusal_error(v2_status(info), info, peer)
        return None

    def statistics(self) -> dict[str, Any]:
        return dict(self.stats)


def v2_status(info: str) -> int:
    """A v3 status for a v2 refusal, from the texts nwaku (and our server) send."""
    if info in (V2_INFO_TOO_MANY_REQUESTS, GO_WAKU_TOO_MANY_REQUESTS):
        return int(LightpushStatus.TOO_MANY_REQUESTS)
    if info == V2_INFO_NOT_PUBLISHED:
        return int(LightpushStatus.NO_PEERS_TO_RELAY)
    if info.startswith((DECODE_FAILURE, V2_INFO_EMPTY_REQUEST)):
        return int(LightpushStatus.BAD_REQUEST)
    return int(LightpushStatus.INTERNAL_SERVER_ERROR)


def _with_timestamp(message: WakuMessage, now_ns: int) -> WakuMessage:
    return replace(message, timestamp=now_ns)
