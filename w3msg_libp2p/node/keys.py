"""The node's persistent identity key: created on first run, stored with mode 0600."""

from __future__ import annotations

import os
from pathlib import Path

from libp2p.crypto.ed25519 import create_new_key_pair as new_ed25519
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.secp256k1 import create_new_key_pair as new_secp256k1
from libp2p.crypto.serialization import deserialize_private_key

from ..core.errors import ConfigError

_GENERATORS = {"secp256k1": new_secp256k1, "ed25519": new_ed25519}


def generate_key_pair(key_type: str) -> KeyPair:
    try:
        return _GENERATORS[key_type]()
    except KeyError:
        raise ConfigError(f"unknown key type {key_type!r}") from None


def save_key_pair(key_pair: KeyPair, path: Path) -> None:
    """Write the libp2p protobuf-encoded private key, never readable by others, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pair.private_key.serialize())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_key_pair(path: Path) -> KeyPair:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"key file {path}: {exc.strerror}") from None
    try:
        private = deserialize_private_key(data)
    except Exception as exc:  # py-libp2p raises protobuf and key-type errors of several kinds
        raise ConfigError(f"key file {path} is not a libp2p private key: {exc}") from None
    # py-libp2p zero-pads a short secp256k1 key: a truncated file would silently become
    # another identity. A key must serialize back to exactly what was read.
    if private.serialize() != data:
        raise ConfigError(f"key file {path} is not a libp2p private key: truncated or padded key material")
    return KeyPair(private, private.get_public_key())


def load_or_create_key_pair(path: Path, key_type: str) -> KeyPair:
    if path.exists():
        return load_key_pair(path)
    key_pair = generate_key_pair(key_type)
    save_key_pair(key_pair, path)
    return key_pair
