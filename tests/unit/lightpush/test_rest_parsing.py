"""The pure parts of the lightpush REST routes: request bodies and answers, nwaku's shapes."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from w3msg_libp2p.api.lightpush_routes import parse_push_request, v1_text, v3_body
from w3msg_libp2p.api.parsing import Refused
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.protocols.lightpush.server import PushOutcome

NOW = 1_700_000_000_000_000_000


def body(**extra: Any) -> dict[str, Any]:
    return {"message": {"payload": base64.b64encode(b"hi").decode(), "contentTopic": "/a/1/b/c"}, **extra}


def test_push_request_with_and_without_topic() -> None:
    expected = WakuMessage(b"hi", "/a/1/b/c", timestamp=NOW)
    assert parse_push_request(body(pubsubTopic="/waku/2/rs/1/0"), NOW) == ("/waku/2/rs/1/0", expected)
    assert parse_push_request(body(), NOW) == (None, expected)
    assert parse_push_request(body(pubsubTopic=""), NOW) == (None, expected)  # nwaku: "" = absent


@pytest.mark.parametrize("value", [
    [], "x", {}, {"pubsubTopic": "/waku/2/rs/1/0"}, body(pubsubTopic=5),
    {"message": {"payload": "aGk=", "contentTopic": ""}}, {"message": {"payload": "!!", "contentTopic": "/a/1/b/c"}},
])
def test_bad_push_requests_are_refused_with_400(value: Any) -> None:
    with pytest.raises(Refused) as info:
        parse_push_request(value, NOW)
    assert info.value.status_code == 400


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=10)


@given(json_values | st.builds(lambda m: {"message": m}, json_values))
def test_any_json_is_parsed_or_refused(value: Any) -> None:
    try:
        parse_push_request(value, NOW)
    except Refused as exc:
        assert exc.status_code == 400


def test_answers() -> None:
    assert v3_body(PushOutcome(200, None, 3)) == ({"relayPeerCount": 3}, 200)
    assert v3_body(PushOutcome(421, "not relayed")) == ({"statusDesc": "not relayed"}, 421)
    assert v1_text(PushOutcome(200, None, 3)) == ("OK", 200)
    assert v1_text(PushOutcome(429, "x")) == ("Request rate limmit reached", 429)
    assert v1_text(PushOutcome(503, "No peers for topic, skipping publish")) == (
        "Failed to request a message push: not_published_to_any_peer", 503)
    assert v1_text(PushOutcome(421, "not relayed")) == ("Failed to request a message push: not relayed", 503)
