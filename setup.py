"""Build hook: generate the protobuf modules from proto/ (they are never committed or edited by hand)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent


def generate_protobuf() -> None:
    from grpc_tools import protoc

    sources = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto").rglob("*.proto"))
    include = str(importlib.resources.files("grpc_tools") / "_proto")
    args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{include}", f"--python_out={ROOT}", f"--pyi_out={ROOT}"]
    if protoc.main([*args, *sources]) != 0:
        raise SystemExit("protoc failed on " + " ".join(sources))


class BuildWithProtobuf(build_py):
    def run(self) -> None:
        generate_protobuf()
        super().run()


setup(cmdclass={"build_py": BuildWithProtobuf})
