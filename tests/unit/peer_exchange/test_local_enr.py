"""How a node's own record is laid out (node/enr.py), without a running node."""

from __future__ import annotations

import pytest

from w3msg_libp2p.core.enr import MAX_RECORD_BYTES, Capabilities, RelayShards, build_waku_enr
from w3msg_libp2p.core.errors import LocalProtocolError
from w3msg_libp2p.node.enr import EnrContent, build_enr, plan_addresses

PEER = "16Uiu2HAmAUdrQ3uwzuE4Gy4D56hX6uLKEeerJAnhKEHZ3DxF1EfT"
KEY = (99).to_bytes(32, "big")


def test_plain_tcp_goes_to_eip778_fields_the_rest_to_multiaddrs() -> None:
    fields, rest = plan_addresses([
        f"/ip4/127.0.0.1/tcp/60000/p2p/{PEER}",
        f"/ip4/192.168.1.5/tcp/60000/p2p/{PEER}",
        f"/ip4/93.184.216.34/tcp/60000/p2p/{PEER}",
        f"/ip4/93.184.216.34/tcp/8000/ws/p2p/{PEER}",
        f"/ip6/2001:db8::1/tcp/60000/p2p/{PEER}",
    ])
    # public first, loopback dropped because there is something better
    assert fields == {"ip": "93.184.216.34", "tcp": 60000, "ip6": "2001:db8::1", "tcp6": 60000}
    assert rest == ["/ip4/93.184.216.34/tcp/8000/ws", "/ip4/192.168.1.5/tcp/60000"]


def test_loopback_only_node_keeps_its_loopback_address() -> None:
    fields, rest = plan_addresses([f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}", f"/ip4/127.0.0.1/tcp/4002/ws/p2p/{PEER}"])
    assert fields == {"ip": "127.0.0.1", "tcp": 4001}
    assert rest == ["/ip4/127.0.0.1/tcp/4002/ws"]


def test_multiaddrs_that_do_not_fit_are_left_out() -> None:
    many = tuple(f"/dns4/node-{i:02d}.example.org/tcp/443/wss" for i in range(10))
    enr = build_enr(KEY, 5, EnrContent(ip="93.184.216.34", tcp=60000, multiaddrs=many,
                                       waku2=Capabilities.RELAY | Capabilities.STORE))
    assert len(enr.raw) <= MAX_RECORD_BYTES
    assert 0 < len(enr.multiaddrs) < len(many)
    assert enr.multiaddrs == many[: len(enr.multiaddrs)]  # best first, the tail is dropped
    assert enr.waku2 == Capabilities.RELAY | Capabilities.STORE and enr.seq == 5


def test_a_bit_vector_and_two_ip_families_overflow_so_ipv6_is_left_out() -> None:
    content = EnrContent(ip="93.184.216.34", tcp=60000, ip6="2606:4700::1111", tcp6=60000,
                         waku2=Capabilities.RELAY, shards=RelayShards.of(1, range(64)))
    with pytest.raises(LocalProtocolError, match="exceeds"):
        build_waku_enr(KEY, 2**40, ip=content.ip, tcp=content.tcp, ip6=content.ip6, tcp6=content.tcp6,
                       waku2=content.waku2, shards=content.shards)
    enr = build_enr(KEY, 2**40, content)
    assert (enr.ip, enr.ip6, enr.relay_shards) == ("93.184.216.34", None, RelayShards.of(1, range(64)))
