"""Hypothesis strategies shared by the codec tests."""

from __future__ import annotations

from hypothesis import strategies as st

from w3msg_libp2p.core.message import WakuMessage

INT64 = st.integers(-(2**63), 2**63 - 1)

# Every field of a WakuMessage, each optional one present or absent.
waku_messages = st.builds(
    WakuMessage,
    payload=st.binary(max_size=512),
    content_topic=st.text(max_size=40),
    version=st.none() | st.integers(0, 2**32 - 1),
    timestamp=st.none() | INT64,
    meta=st.none() | st.binary(max_size=64),
    rate_limit_proof=st.none() | st.binary(max_size=64),
    ephemeral=st.none() | st.booleans(),
)
