from __future__ import annotations

import stat
from pathlib import Path

import pytest
from libp2p.crypto.keys import KeyType
from libp2p.peer.id import ID

from w3msg_libp2p.core.errors import ConfigError
from w3msg_libp2p.node.keys import load_key_pair, load_or_create_key_pair


def test_key_is_created_once_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "node.key"
    first = load_or_create_key_pair(path, "secp256k1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.private_key.get_type() == KeyType.Secp256k1
    again = load_or_create_key_pair(path, "ed25519")  # an existing key wins over the requested type
    assert ID.from_pubkey(again.public_key) == ID.from_pubkey(first.public_key)
    assert str(ID.from_pubkey(first.public_key)).startswith("16Uiu2")  # secp256k1 peer ids, as Waku nodes have


def test_ed25519_is_selectable(tmp_path: Path) -> None:
    kp = load_or_create_key_pair(tmp_path / "k", "ed25519")
    assert kp.private_key.get_type() == KeyType.Ed25519
    assert str(ID.from_pubkey(kp.public_key)).startswith("12D3Koo")


def test_corrupt_key_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_bytes(b"not a key")
    with pytest.raises(ConfigError, match="not a libp2p private key"):
        load_key_pair(path)


def test_truncated_key_is_refused_not_padded_into_another_identity(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    load_or_create_key_pair(path, "secp256k1")
    data = path.read_bytes()
    # a well-formed protobuf whose key is 7 bytes instead of 32
    short = bytes([data[0], data[1], data[2], data[3] - 25]) + data[4:-25]
    path.write_bytes(short)
    with pytest.raises(ConfigError, match="truncated"):
        load_key_pair(path)
