"""w3msg: a decentralized, metadata-private messaging node for web3 on py-libp2p."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("w3msg-libp2p")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
