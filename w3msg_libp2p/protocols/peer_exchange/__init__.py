"""Waku peer exchange (34/WAKU2-PEER-EXCHANGE): ENRs of other peers, on request."""
