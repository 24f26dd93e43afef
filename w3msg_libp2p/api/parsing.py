"""Pure parsing and rendering of the nwaku REST bodies: no I/O, so each rule is unit-testable.

Every refusal is a ``Refused`` carrying the HTTP status, the plain-text message sent back
(worded as nwaku words it where nwaku has a message) and a short ``reason`` for the metric.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from ..core.errors import ConfigError, RemoteProtocolError, TopicError
from ..core.message import MAX_META_BYTES, WakuMessage
from ..core.topics import parse_content_topic, parse_pubsub_topic
from ..net.addresses import parse_multiaddr

JSON_MEDIA_TYPES = ("application/json", "text/plain")  # nwaku accepts both for JSON bodies
MAX_UINT32 = 2**32 - 1
MAX_INT64 = 2**63 - 1


class Refused(RemoteProtocolError):
    """A request we refuse: ``str(self)`` is the text/plain body, ``status_code`` the status."""

    def __init__(self, message: str, status_code: int = 400, reason: str = "bad_request") -> None:
        super().__init__(message, status_code)
        self.reason = reason


# -- request bodies ----------------------------------------------------------------------------
def parse_json_body(body: bytes, content_type: str | None) -> Any:
    """The decoded JSON of a request body, refused as nwaku's ``decodeRequestBody`` refuses it."""
    if not body.strip():
        raise Refused("Missing content body", reason="missing_body")
    if content_type is not None:
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in JSON_MEDIA_TYPES:
            raise Refused("Wrong Content-Type, expected application/json or text/plain",
                          reason="wrong_content_type")
    try:
        return json.loads(body, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError and our hooks' errors
        raise Refused(f"Invalid content body, could not decode: {exc}", reason="bad_json") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # nwaku refuses repeated fields rather than picking one
            raise ValueError(f"Multiple `{key}` fields found")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_string_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Refused(f"Invalid content body, could not decode: expected a JSON array of {what}",
                      reason="bad_json")
    return value


def parse_pubsub_topics(value: Any) -> list[str]:
    """A JSON array of static-shard pubsub topics (nwaku refuses named topics here too)."""
    return _parse_topics(value, "pubsub topic", is_static_shard_topic)


def parse_content_topics(value: Any) -> list[str]:
    return _parse_topics(value, "content topic", is_content_topic)


def _parse_topics(value: Any, kind: str, valid: Callable[[str], bool]) -> list[str]:
    topics = parse_string_list(value, f"{kind}s")
    bad = [t for t in topics if not valid(t)]
    if bad:
        raise Refused(f"Invalid {kind}(s): {json.dumps(bad)}", reason=f"invalid_{kind.replace(' ', '_')}")
    return _dedup(topics)


def is_static_shard_topic(topic: str) -> bool:
    try:
        return parse_pubsub_topic(topic) is not None
    except TopicError:
        return False


def is_content_topic(topic: str) -> bool:
    try:
        parse_content_topic(topic)
    except TopicError:
        return False
    return True


def parse_peer_addrs(value: Any) -> list[str]:
    """A JSON array of multiaddrs, each ending in /p2p/<peer id>; all checked before any dial."""
    addrs = parse_string_list(value, "multiaddrs")
    for addr in addrs:
        try:
            parse_multiaddr(addr, what="peer address", need_peer_id=True)
        except ConfigError as exc:
            raise Refused(f"Couldn't parse remote peer info: {exc}", reason="bad_multiaddr") from None
    return addrs


def _dedup(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# -- RelayWakuMessage --------------------------------------------------------------------------
def parse_relay_message(value: Any, now_ns: int) -> WakuMessage:
    """A RelayWakuMessage as nwaku reads it: payload and contentTopic required and non-empty,
    base64 payload/meta/proof, a missing or zero timestamp replaced by ``now_ns``."""
    if not isinstance(value, dict):
        raise Refused("Invalid content body, could not decode: expected a JSON object (RelayWakuMessage)",
                      reason="bad_json")
    payload = _required_text(value, "payload")
    content_topic = _required_text(value, "contentTopic")
    try:
        parse_content_topic(content_topic)
    except TopicError as exc:
        raise Refused(f"Invalid content topic: {exc}", reason="invalid_content_topic") from None
    meta = _optional_base64(value, "meta")
    if meta is not None and len(meta) > MAX_META_BYTES:
        raise Refused(f"Field `meta` is {len(meta)} bytes, at most {MAX_META_BYTES} allowed",
                      reason="bad_field")
    return WakuMessage(
        payload=_decode_base64(payload, "payload"),
        content_topic=content_topic,
        version=_optional_int(value, "version", MAX_UINT32),
        timestamp=_optional_int(value, "timestamp", MAX_INT64) or now_ns,
        meta=meta or None,
        rate_limit_proof=_optional_base64(value, "proof") or None,
        ephemeral=_optional_bool(value, "ephemeral"),
    )


def _required_text(obj: dict[str, Any], field: str) -> str:
    value = obj.get(field)
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"Invalid content body, could not decode: Field `{field}` is missing or empty",
                      reason="missing_field")
    return value


def _optional_int(obj: dict[str, Any], field: str, maximum: int) -> int | None:
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise Refused(f"Invalid content body, could not decode: Field `{field}` must be an integer "
                      f"in 0..{maximum}", reason="bad_field")
    return value


def _optional_bool(obj: dict[str, Any], field: str) -> bool | None:
    value = obj.get(field)
    if value is not None and not isinstance(value, bool):
        raise Refused(f"Invalid content body, could not decode: Field `{field}` must be true or false",
                      reason="bad_field")
    return value


def _optional_base64(obj: dict[str, Any], field: str) -> bytes | None:
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Refused(f"Invalid content body, could not decode: Field `{field}` must be a base64 string",
                      reason="bad_field")
    return _decode_base64(value, field)


def _decode_base64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Refused(f"Field `{field}` is not valid base64: {exc}", reason="bad_base64") from None


def relay_message_json(message: WakuMessage) -> dict[str, Any]:
    """A delivered message as nwaku's GET returns it (same fields, order and defaults)."""
    out: dict[str, Any] = {
        "payload": _b64(message.payload),
        "contentTopic": message.content_topic,
        "version": message.version or 0,
        "timestamp": message.timestamp or 0,
    }
    if message.meta:
        out["meta"] = _b64(message.meta)
    out["ephemeral"] = bool(message.ephemeral)
    out["proof"] = _b64(message.rate_limit_proof or b"")
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
