"""Waku lightpush v3 and v2 (19/WAKU2-LIGHTPUSH): light nodes ask a service node to publish for them."""
