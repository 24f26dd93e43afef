"""Imports every ``kind_*.py`` module of the harness, each registering its scenario kinds."""

import importlib
import pkgutil
from pathlib import Path

for _module in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _module.name.startswith("kind_"):
        importlib.import_module(f"interop.harness.{_module.name}")
