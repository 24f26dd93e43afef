"""The filter service rules: each request type, its status codes and the counters."""

from __future__ import annotations

from w3msg_libp2p.protocols.filter.rpc import SubscribeRequest, SubscribeResponse, SubscribeType
from w3msg_libp2p.protocols.filter.server import FilterServer
from w3msg_libp2p.protocols.filter.subscriptions import SubscriptionTable

PS = "/waku/2/rs/1/0"
CT = "/app/1/chat/proto"
PING, SUB, UNSUB, UNSUB_ALL = (SubscribeType.SUBSCRIBER_PING, SubscribeType.SUBSCRIBE,
                               SubscribeType.UNSUBSCRIBE, SubscribeType.UNSUBSCRIBE_ALL)


def server(max_peers: int = 10, timeout: float = 300, max_topics: int = 100) -> FilterServer:
    return FilterServer(SubscriptionTable(max_peers, 1000, timeout), max_topics)


def ask(s: FilterServer, peer: str, kind: SubscribeType | int, topic: str | None = None,
        cts: tuple[str, ...] = (), now: float = 0, rid: str = "r") -> SubscribeResponse:
    return s.handle(peer, SubscribeRequest(rid, kind, topic, cts), now)


def test_subscribe_ping_unsubscribe_cycle() -> None:
    s = server()
    assert ask(s, "a", PING, rid="p1") == SubscribeResponse("p1", 404, "NOT_FOUND: peer has no subscriptions")
    assert ask(s, "a", SUB, PS, (CT,), rid="s1") == SubscribeResponse("s1", 200, "OK")
    assert s.subscribers(PS, CT, now=1) == ["a"]
    assert ask(s, "a", PING).status_code == 200
    assert ask(s, "a", UNSUB, PS, (CT,)).status_code == 200
    assert s.subscribers(PS, CT, now=1) == []
    assert ask(s, "a", PING).status_code == 404  # an emptied subscription is no subscription
    assert ask(s, "a", UNSUB, PS, (CT,)).status_code == 404


def test_unsubscribe_all() -> None:
    s = server()
    ask(s, "a", SUB, PS, (CT, "/app/1/other/proto"))
    ask(s, "a", SUB, "/waku/2/rs/1/3", (CT,))
    assert ask(s, "a", UNSUB_ALL) == SubscribeResponse("r", 200, "OK")
    assert s.subscribers(PS, CT, 0) == [] and s.subscribers("/waku/2/rs/1/3", CT, 0) == []
    assert ask(s, "a", UNSUB_ALL).status_code == 404


def test_bad_requests_are_400_with_their_request_id() -> None:
    s = server(max_topics=100)
    assert ask(s, "a", SUB, None, (CT,), rid="x") == SubscribeResponse(
        "x", 400, "BAD_REQUEST: pubsubTopic and contentTopics must be specified")
    assert ask(s, "a", SUB, PS, ()).status_code == 400
    assert ask(s, "a", UNSUB, None, (CT,)).status_code == 400
    too_many = tuple(f"/app/1/t{i}/proto" for i in range(101))
    assert ask(s, "a", SUB, PS, too_many).status_desc == "BAD_REQUEST: exceeds maximum content topics: 100"
    assert ask(s, "a", SUB, PS, too_many[:100]).status_code == 200
    assert ask(s, "a", SUB, "not/a/topic", (CT,)).status_code == 400
    assert ask(s, "a", SUB, PS, ("",)).status_code == 400
    assert ask(s, "a", SUB, PS, ("/" + "x" * 2000,)).status_code == 400
    assert ask(s, "a", 9, PS, (CT,), rid="u") == SubscribeResponse(
        "u", 400, "BAD_REQUEST: unknown filter subscribe type 9")
    assert ask(s, "a", SUB, PS, (CT,), rid="").status_code == 400
    assert s.stats.refusals == {"missing_criteria": 3, "too_many_content_topics": 1, "invalid_pubsub_topic": 1,
                                "invalid_content_topic": 2, "unknown_type": 1, "missing_request_id": 1}
    assert s.stats.requests["unknown"] == 1


def test_too_many_peers_is_503_until_one_expires() -> None:
    s = server(max_peers=2, timeout=10)
    assert ask(s, "a", SUB, PS, (CT,), now=0).status_code == 200
    assert ask(s, "b", SUB, PS, (CT,), now=0).status_code == 200
    refused = ask(s, "c", SUB, PS, (CT,), now=1)
    assert refused.status_code == 503
    assert refused.status_desc == "SERVICE_UNAVAILABLE: node has reached maximum number of subscriptions: 2"
    ask(s, "a", PING, now=8)
    assert ask(s, "c", SUB, PS, (CT,), now=12).status_code == 200  # b stopped pinging at 0
    assert sorted(s.subscribers(PS, CT, now=12)) == ["a", "c"]
    assert s.stats.responses == {200: 4, 503: 1}


def test_expired_subscriber_gets_no_pushes_and_pings_404() -> None:
    s = server(timeout=30)
    ask(s, "a", SUB, PS, (CT,), now=0)
    assert s.subscribers(PS, CT, now=30) == ["a"]
    assert s.subscribers(PS, CT, now=31) == []
    assert ask(s, "a", PING, now=31).status_code == 404
    assert s.expire(now=31) == ["a"]
