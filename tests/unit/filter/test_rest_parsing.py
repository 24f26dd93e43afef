"""Pure parts of the /filter/v2 REST routes: bodies, topic paths, message JSON, statuses."""

from __future__ import annotations

import json

import pytest

from w3msg_libp2p.api.filter_routes import (
    FilterRequestBody,
    filter_message_json,
    http_status,
    parse_filter_body,
    split_topics_path,
)
from w3msg_libp2p.api.parsing import Refused
from w3msg_libp2p.core.message import WakuMessage

JSON = "application/json"
PS = "/waku/2/rs/1/0"
CT = "/app/1/chat/proto"


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_subscribe_body_as_nwaku_reads_it() -> None:
    parsed = parse_filter_body(body(requestId="1", contentFilters=[CT, CT, "/b/1/c/d"], pubsubTopic=PS,
                                    extra="ignored"), JSON, need_topics=True)
    assert parsed == FilterRequestBody("1", (CT, "/b/1/c/d"), PS, None)
    # an empty pubsub topic means none: autosharding
    assert parse_filter_body(body(requestId="1", contentFilters=[CT], pubsubTopic=""), JSON,
                             need_topics=True).pubsub_topic is None
    assert parse_filter_body(body(requestId="9"), JSON, need_topics=False) == FilterRequestBody("9")


@pytest.mark.parametrize(("raw", "content_type", "reason"), [
    (b"", JSON, "missing_body"),
    (b"{", JSON, "bad_json"),
    (b"[]", JSON, "bad_json"),
    (body(contentFilters=[CT]), JSON, "missing_field"),
    (body(requestId=1, contentFilters=[CT]), JSON, "missing_field"),
    (body(requestId="1"), JSON, "missing_field"),
    (body(requestId="1", contentFilters=[]), JSON, "missing_field"),
    (body(requestId="1", contentFilters=[1]), JSON, "bad_field"),
    (body(requestId="1", contentFilters=[CT], pubsubTopic=5), JSON, "bad_field"),
    (body(requestId="1", contentFilters=[CT], peerAddr="/ip4/1.2.3.4/tcp/1"), JSON, "bad_multiaddr"),
    (b'{"requestId": "1", "requestId": "2", "contentFilters": ["/a/1/b/c"]}', JSON, "bad_json"),
    (body(requestId="1", contentFilters=[CT]), "application/xml", "wrong_content_type"),
])
def test_bad_bodies_are_refused(raw: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(Refused) as info:
        parse_filter_body(raw, content_type, need_topics=True)
    assert info.value.status_code == 400 and info.value.reason == reason


def test_topic_paths() -> None:
    assert split_topics_path(CT) == (None, CT)
    assert split_topics_path(f"{PS}/{CT}") == (PS, CT)  # each topic URL-encoded, then decoded
    assert split_topics_path(f"{PS}{CT}") == (PS, CT)  # slashes merged on the way
    assert split_topics_path(f"/waku/2/default-waku/proto/{CT}") == ("/waku/2/default-waku/proto", CT)
    assert split_topics_path("/waku/2/default-content/proto") == (None, "/waku/2/default-content/proto")
    assert split_topics_path("not-a-topic") is None
    assert split_topics_path(f"/bad/{CT}") is None


def test_message_json_is_nwakus_filter_waku_message() -> None:
    msg = WakuMessage(b"hi", CT, timestamp=5, meta=b"\x01", rate_limit_proof=b"p")
    assert filter_message_json(msg) == {"payload": "aGk=", "contentTopic": CT, "version": 0, "timestamp": 5,
                                        "meta": "AQ==", "ephemeral": False}
    assert list(filter_message_json(WakuMessage(b"", CT, ephemeral=True))) == [
        "payload", "contentTopic", "version", "timestamp", "ephemeral"]


def test_http_status_of_filter_statuses() -> None:
    assert [http_status(c) for c in (200, 400, 404, 429, 503, 504, 300, 418)] == [
        200, 400, 404, 429, 503, 504, 500, 500]
