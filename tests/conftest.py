from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"


def load_vectors(relative: str) -> Any:
    path = SHARED / "vectors" / relative
    if not path.exists():
        pytest.fail(f"test vectors missing: {path} (shared/ must sit beside the project root)")
    return json.loads(path.read_text())
