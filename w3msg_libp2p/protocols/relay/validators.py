"""Waku relay message validation: well-formed WakuMessage, size, timestamp drift, content topic."""

from __future__ import annotations

from collections.abc import Callable

from ...core.codec import MAX_WAKU_MESSAGE_BYTES, decode_message
from ...core.errors import RemoteProtocolError, TopicError
from ...core.topics import parse_content_topic
from .rpc import ValidationResult, Verdict

# nwaku rejects messages whose timestamp is more than 20 s away from its clock.
DEFAULT_MAX_TIMESTAMP_DRIFT_NS = 20 * 1_000_000_000


class WakuMessageValidator:
    """A relay validator for Waku pubsub topics.

    Malformed or oversized messages and bad content topics are REJECTed (the sender is
    penalised). A timestamp too far from our clock is IGNOREd: an honest relay can forward a
    message whose publisher's clock is wrong, and should not lose score for it.
    A missing (or zero) timestamp is accepted, as nwaku does.
    """

    def __init__(
        self,
        wall_clock_ns: Callable[[], int],
        max_drift_ns: int = DEFAULT_MAX_TIMESTAMP_DRIFT_NS,
        max_size: int = MAX_WAKU_MESSAGE_BYTES,
    ) -> None:
        self.wall_clock_ns = wall_clock_ns
        self.max_drift_ns = max_drift_ns
        self.max_size = max_size

    def __call__(self, topic: str, data: bytes) -> Verdict:
        if len(data) > self.max_size:
            return Verdict(ValidationResult.REJECT, "waku_message_too_large")
        try:
            message = decode_message(data, self.max_size)
        except RemoteProtocolError:
            return Verdict(ValidationResult.REJECT, "malformed_waku_message")
        try:
            parse_content_topic(message.content_topic)
        except TopicError:
            return Verdict(ValidationResult.REJECT, "invalid_content_topic")
        if message.timestamp and abs(message.timestamp - self.wall_clock_ns()) > self.max_drift_ns:
            return Verdict(ValidationResult.IGNORE, "timestamp_out_of_range")
        return Verdict(ValidationResult.ACCEPT, parsed=message)
