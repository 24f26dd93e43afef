"""Peer exchange wire codec: protobuf bytes <-> rpc dataclasses, and records out of a response.

The only peer exchange module importing generated protobuf. Sizes are checked before parsing;
what does not parse is a RemoteProtocolError (400). Both directions use the ``PeerExchangeRPC``
envelope, and a response always carries an (empty) ``query`` too: nwaku's decoder requires
field 1 in every RPC and refuses the whole response without it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ...core.enr import Enr, EnrError, decode_enr
from ...core.errors import LocalProtocolError, RemoteProtocolError
from ...core.protobuf import parse_bounded
from ...pb import peer_exchange_pb2 as pb
from .rpc import PeerExchangeQuery, PeerExchangeResponse, StatusCode

# A query is one uint64 (nwaku adds an empty response part): a few dozen bytes at most.
MAX_REQUEST_BYTES = 1024
# ~800 records of at most 300 bytes plus framing: far above any sane num_peers.
MAX_RESPONSE_BYTES = 256 * 1024
MAX_UINT64 = (1 << 64) - 1


def _parse(data: bytes, what: str, max_size: int) -> pb.PeerExchangeRPC:
    return parse_bounded(pb.PeerExchangeRPC(), data, max_size, what)


def encode_query(query: PeerExchangeQuery) -> bytes:
    if not 0 <= query.num_peers <= MAX_UINT64:
        raise LocalProtocolError(f"num_peers {query.num_peers} is not a uint64")
    msg = pb.PeerExchangeRPC()
    msg.query.num_peers = query.num_peers
    msg.query.SetInParent()  # present even for num_peers = 0
    return msg.SerializeToString()


def decode_query(data: bytes, max_size: int = MAX_REQUEST_BYTES) -> PeerExchangeQuery:
    msg = _parse(data, "PeerExchangeRPC query", max_size)
    if not msg.HasField("query"):
        raise RemoteProtocolError("PeerExchangeRPC has no query", 400)
    return PeerExchangeQuery(num_peers=msg.query.num_peers)


def encode_response(response: PeerExchangeResponse) -> bytes:
    if not 0 <= response.status_code <= 0xFFFFFFFF:
        raise LocalProtocolError(f"status code {response.status_code} is not a uint32")
    msg = pb.PeerExchangeRPC()
    msg.query.SetInParent()
    out = msg.response
    out.SetInParent()
    for raw in response.enrs:
        out.peer_infos.add(enr=raw)
    out.status_code = response.status_code
    if response.status_desc is not None:
        out.status_desc = response.status_desc
    return msg.SerializeToString()


def decode_response(data: bytes, max_size: int = MAX_RESPONSE_BYTES) -> PeerExchangeResponse:
    msg = _parse(data, "PeerExchangeRPC response", max_size)
    if not msg.HasField("response"):
        raise RemoteProtocolError("PeerExchangeRPC has no response", 400)
    r = msg.response
    enrs = tuple(info.enr for info in r.peer_infos)
    status = r.status_code
    if status == 0:  # peers from before status codes: as nwaku reads them
        status = StatusCode.SUCCESS if enrs else StatusCode.SERVICE_UNAVAILABLE
    desc = r.status_desc if r.HasField("status_desc") else None
    return PeerExchangeResponse(enrs=enrs, status_code=status, status_desc=desc)


def refuse(status: int, description: str) -> bytes:
    """The error response the stream adapter sends (400, 413, 429, 500...)."""
    return encode_response(PeerExchangeResponse(status_code=status, status_desc=description))


def parse_enrs(raws: Iterable[bytes]) -> tuple[list[Enr], Counter[str]]:
    """The verified records of a response, one per peer (highest seq), and what was skipped:
    ``invalid_enr`` (does not decode or verify), ``malformed_field`` (signed, but an address or
    Waku field is unreadable), ``duplicate``."""
    kept: dict[str, Enr] = {}
    skipped: Counter[str] = Counter()
    for raw in raws:
        try:
            enr = decode_enr(raw)
        except EnrError:
            skipped["invalid_enr"] += 1
            continue
        try:
            enr.dial_addrs()
            _ = enr.relay_shards, enr.waku2
        except EnrError:
            skipped["malformed_field"] += 1
            continue
        previous = kept.get(enr.peer_id)
        if previous is not None:
            skipped["duplicate"] += 1
            if previous.seq >= enr.seq:
                continue
        kept[enr.peer_id] = enr
    return list(kept.values()), skipped
