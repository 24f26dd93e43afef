"""Waku metadata wire codec: WakuMetadataRequest / WakuMetadataResponse <-> Metadata.

The only metadata module importing generated protobuf. We write shards the way nwaku does, one
varint per shard in field 2 (all js-waku reads) and packed in field 3 (what nwaku reads first);
we read field 3 if present, else field 2, packed or not. Sizes are checked before parsing;
anything that does not parse is a RemoteProtocolError (400).
"""

from __future__ import annotations

from ...core.errors import LocalProtocolError
from ...core.protobuf import parse_bounded
from ...pb import metadata_pb2 as pb
from .rpc import Metadata

# Both fields for every shard of a cluster (1024 shards) fit with room to spare.
MAX_METADATA_BYTES = 16 * 1024


def _fill(msg: pb.WakuMetadataRequest | pb.WakuMetadataResponse, metadata: Metadata) -> bytes:
    try:
        if metadata.cluster_id is not None:
            msg.cluster_id = metadata.cluster_id
        msg.shards.extend(metadata.shards)
        msg.shards_packed.extend(metadata.shards)
        return msg.SerializeToString()
    except (ValueError, TypeError) as exc:
        raise LocalProtocolError(f"metadata cannot be encoded: {exc}") from None


def _read(msg: pb.WakuMetadataRequest | pb.WakuMetadataResponse, data: bytes, max_size: int) -> Metadata:
    parse_bounded(msg, data, max_size)
    shards = tuple(msg.shards_packed) or tuple(msg.shards)
    return Metadata(msg.cluster_id if msg.HasField("cluster_id") else None, shards)


def encode_request(metadata: Metadata) -> bytes:
    return _fill(pb.WakuMetadataRequest(), metadata)


def decode_request(data: bytes, max_size: int = MAX_METADATA_BYTES) -> Metadata:
    return _read(pb.WakuMetadataRequest(), data, max_size)


def encode_response(metadata: Metadata) -> bytes:
    return _fill(pb.WakuMetadataResponse(), metadata)


def decode_response(data: bytes, max_size: int = MAX_METADATA_BYTES) -> Metadata:
    return _read(pb.WakuMetadataResponse(), data, max_size)
