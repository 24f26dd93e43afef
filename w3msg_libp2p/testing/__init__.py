"""Test helpers shipped with the package so applications can test against w3msg too:
a fake clock, seeded randomness and an in-memory network of relay routers."""

from .clock import FakeClock
from .router_net import RouterNet

__all__ = ["FakeClock", "RouterNet"]
