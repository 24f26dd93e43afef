from __future__ import annotations

from w3msg_libp2p.core.codec import MAX_WAKU_MESSAGE_BYTES, encode_message
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.protocols.relay.rpc import ValidationResult
from w3msg_libp2p.protocols.relay.validators import WakuMessageValidator

NOW = 1_700_000_000_000_000_000
T = "/waku/2/rs/1/0"
validate = WakuMessageValidator(lambda: NOW)


def verdict(msg: WakuMessage) -> tuple[ValidationResult, str]:
    v = validate(T, encode_message(msg))
    return v.result, v.reason


def test_good_message_is_accepted_with_or_without_timestamp() -> None:
    assert verdict(WakuMessage(b"x", "/a/1/b/c", timestamp=NOW))[0] is ValidationResult.ACCEPT
    assert verdict(WakuMessage(b"x", "/a/1/b/c"))[0] is ValidationResult.ACCEPT


def test_timestamp_drift_is_ignored_not_rejected() -> None:
    assert verdict(WakuMessage(b"x", "/a/1/b/c", timestamp=NOW - 21 * 10**9)) == (
        ValidationResult.IGNORE, "timestamp_out_of_range")
    assert verdict(WakuMessage(b"x", "/a/1/b/c", timestamp=NOW + 21 * 10**9))[0] is ValidationResult.IGNORE
    assert verdict(WakuMessage(b"x", "/a/1/b/c", timestamp=NOW + 19 * 10**9))[0] is ValidationResult.ACCEPT


def test_bad_content_topic_and_garbage_are_rejected() -> None:
    assert verdict(WakuMessage(b"x", "no-slashes")) == (ValidationResult.REJECT, "invalid_content_topic")
    assert validate(T, b"\xff\xff\xff").reason == "malformed_waku_message"
    assert validate(T, bytes(MAX_WAKU_MESSAGE_BYTES + 1)).reason == "waku_message_too_large"


def test_accepted_message_is_handed_on_parsed() -> None:
    msg = WakuMessage(b"x", "/a/1/b/c", timestamp=NOW, meta=b"m")
    assert validate(T, encode_message(msg)).parsed == msg
