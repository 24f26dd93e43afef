"""GET /store/v3/messages, as nwaku serves it.

Without ``peerAddr`` a store node answers from its own archive; otherwise (or when the node
stores nothing) the query goes to a store peer over /vac/waku/store-query/3.0.0. Hashes and
cursors are hex (``0x`` optional; base64/base64url of 32 bytes also accepted), and come back as
``0x`` hex. Status mapping and deviations: docs/store.md.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from ..core.errors import ConfigError, PeerUnreachable, RemoteProtocolError
from ..core.message import WakuMessage
from ..net.addresses import parse_multiaddr
from ..protocols.store.client import StoreClient, StoreQueryError, new_request_id
from ..protocols.store.rpc import HASH_BYTES, STORE_PROTOCOL_ID, StoreQuery, StoreResponse, StoreStatus
from ..protocols.store.server import status_desc
from .parsing import Refused
from .responses import json_response

if TYPE_CHECKING:
    from ..node.node import Node

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100  # nwaku caps the REST pageSize here, whatever the store's own maximum
REMOTE_TIMEOUT = 5.0  # nwaku's futTimeout
NO_PEER_TEXT = "No suitable service peer & no discovery method"
_TRUE = {"y", "yes", "true", "1", "on"}  # Nim's parseBool
_FALSE = {"n", "no", "false", "0", "off"}


def install_store_routes(app: QuartTrio, node: Node) -> None:
    @app.get("/store/v3/messages")
    async def get_store_messages() -> Response:
        peer_addr, query = parse_store_params(request.args)
        if peer_addr is None and node.store is not None:
            return local_response(await node.store.execute(query))
        return await remote_query(node, peer_addr, query)


# -- query parameters ----------------------------------------------------------------------------
def parse_store_params(args: Mapping[str, str]) -> tuple[str | None, StoreQuery]:
    """(peerAddr or None, the query) from the URL's (already percent-decoded) parameters."""
    def arg(name: str) -> str | None:
        value = args.get(name)
        return value if value else None  # nwaku treats an empty parameter as absent

    peer_addr = arg("peerAddr")
    if peer_addr is not None:
        try:
            parse_multiaddr(peer_addr, what="peer address", need_peer_id=True)
        except ConfigError as exc:
            raise Refused(f"Failed parsing remote peer info: {exc}", reason="bad_peer_addr") from None
    content_topics = arg("contentTopics")
    hashes = arg("hashes")
    cursor = arg("cursor")
    ascending = arg("ascending")
    query = StoreQuery(
        request_id=new_request_id(),
        include_data=_parse_bool(arg("includeData")),
        pubsub_topic=arg("pubsubTopic"),
        content_topics=tuple(t for t in content_topics.split(",") if t) if content_topics else (),
        time_start=_parse_time(arg("startTime")),
        time_end=_parse_time(arg("endTime")),
        message_hashes=tuple(parse_hash(h) for h in hashes.split(",") if h) if hashes else (),
        cursor=parse_hash(cursor) if cursor else None,
        forward=ascending is None or ascending == "true",  # nwaku: absent -> forward
        limit=_parse_page_size(arg("pageSize")),
    )
    return peer_addr, query


def _parse_bool(text: str | None) -> bool:
    if text is None:
        return False
    normal = text.replace("_", "").lower()
    if normal in _TRUE:
        return True
    if normal in _FALSE:
        return False
    raise Refused(f"include data parsing error: cannot interpret as a bool: {text}", reason="bad_parameter")


def _parse_time(text: str | None) -> int | None:
    """nwaku: an integer in ns; zero or negative means unset."""
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise Refused(f"time parsing error: invalid integer: {text}", reason="bad_parameter") from None
    return value if value > 0 else None


def _parse_page_size(text: str | None) -> int:
    if text is None:
        return DEFAULT_PAGE_SIZE
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise Refused(f"page size parsing error: invalid page size: {text}", reason="bad_parameter")
    return min(value, MAX_PAGE_SIZE)


def parse_hash(text: str) -> bytes:
    """A 32-byte message hash as hex (nwaku's form, ``0x`` optional), or base64/base64url."""
    hex_text = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        digest: bytes | None = bytes.fromhex(hex_text)
        problem = ""
    except ValueError as exc:
        digest, problem = None, f"Exception converting hex string to bytes: {exc}"
    if digest is None or len(digest) != HASH_BYTES:
        digest = _base64_hash(text) or digest
    if digest is None:
        raise Refused(problem, reason="bad_hash")
    if len(digest) != HASH_BYTES:
        raise Refused(f"waku message hash parsing error: invalid hash length: {len(digest)}", reason="bad_hash")
    return digest


def _base64_hash(text: str) -> bytes | None:
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            digest = decode(padded.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
        if len(digest) == HASH_BYTES:
            return digest
    return None


# -- answers -------------------------------------------------------------------------------------
def local_response(response: StoreResponse) -> Response:
    """Our own archive's answer: JSON on success, the status as text otherwise."""
    if response.ok:
        return json_response(store_response_json(response))
    reason = "bad_request" if response.status_code == StoreStatus.BAD_REQUEST else "archive_error"
    raise Refused(response.status_desc, response.status_code, reason)


async def remote_query(node: Node, peer_addr: str | None, query: StoreQuery) -> Response:
    """Ask a store peer, as nwaku's REST does: its refusals come back as JSON with their status
    code (429 excepted), a peer we cannot reach as statusCode 504 in the JSON."""
    try:
        peer_id = await node.connect(peer_addr) if peer_addr is not None else _store_peer(node)
    except (PeerUnreachable, ConfigError):
        return json_response(store_response_json(_dial_failure(peer_addr or "")))
    # our deadline is nwaku's; the client's own is longer, so a PeerUnreachable means no stream
    client = StoreClient(node.host, timeout=2 * REMOTE_TIMEOUT)
    try:
        with trio.fail_after(REMOTE_TIMEOUT):
            response = await client.query(peer_id, query)
    except StoreQueryError as exc:
        if exc.status_code == StoreStatus.TOO_MANY_REQUESTS:
            raise Refused("Request rate limit reached", 429, "remote_rate_limited") from None
        response = exc.response
    except trio.TooSlowError:
        raise Refused("No history response received (timeout)", 500, "remote_timeout") from None
    except PeerUnreachable:
        response = _dial_failure(peer_addr or peer_id)
    except RemoteProtocolError as exc:
        raise Refused(f"Error occurred in queryFut.read() [{exc}]", 500, "remote_bad_response") from None
    return json_response(store_response_json(response))


def _dial_failure(peer: str) -> StoreResponse:
    return StoreResponse("", StoreStatus.PEER_DIAL_FAILURE, status_desc(StoreStatus.PEER_DIAL_FAILURE, peer))


def _store_peer(node: Node) -> str:
    for peer in node.peers():
        if peer.connected and STORE_PROTOCOL_ID in peer.protocols:
            return peer.peer_id
    raise Refused(NO_PEER_TEXT, 412, "no_store_peer")


def store_response_json(response: StoreResponse) -> dict[str, Any]:
    """nwaku's StoreQueryResponseHex: hashes and the cursor as 0x-hex."""
    out: dict[str, Any] = {
        "requestId": response.request_id,
        "statusCode": response.status_code,
        "statusDesc": response.status_desc,
        "messages": [_entry_json(e.message_hash, e.message, e.pubsub_topic) for e in response.messages],
    }
    if response.cursor is not None:
        out["paginationCursor"] = "0x" + response.cursor.hex()
    return out


def _entry_json(message_hash: bytes, message: WakuMessage | None, pubsub_topic: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"messageHash": "0x" + message_hash.hex()}
    if message is not None:
        out["message"] = store_message_json(message)
    if pubsub_topic is not None:
        out["pubsubTopic"] = pubsub_topic
    return out


def store_message_json(message: WakuMessage) -> dict[str, Any]:
    """A WakuMessage as nwaku's store REST writes it (field order and defaults included)."""
    out: dict[str, Any] = {"payload": _b64(message.payload), "contentTopic": message.content_topic}
    if message.meta:
        out["meta"] = _b64(message.meta)
    out["version"] = message.version or 0
    out["timestamp"] = message.timestamp or 0
    out["ephemeral"] = bool(message.ephemeral)
    if message.rate_limit_proof:
        out["proof"] = _b64(message.rate_limit_proof)
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
