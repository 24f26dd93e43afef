"""Scenarios whose peers cannot be kept on 127.0.0.1 run in a network namespace of their own.

go-waku v0.10.0 binds its discv5 UDP socket to 0.0.0.0 (hard-coded in waku/v2/discv5), and its peer
exchange serves only peers found by discv5. A scenario marked ``"netns": true`` therefore runs in a
child process inside a fresh user + network namespace (``unshare -rn``) whose only interface is
loopback: everything it starts, our node included, can reach nothing but 127.0.0.1.

    python -m interop.harness.netns SPEC.json DIRECTION WORKDIR   (inside the namespace; writes WORKDIR/result.json)
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import trio

NETNS_ENV = "W3MSG_INTEROP_NETNS"
ROOT = Path(__file__).resolve().parents[2]
GRACE_S = 60.0  # namespace set-up and process start on top of the scenario's own timeout


def inside() -> bool:
    return os.environ.get(NETNS_ENV) == "1"


async def run_in_netns(spec: dict[str, Any], direction: str, workdir: Path) -> Any:
    """Run ``spec`` in ``direction`` in a new network namespace; returns its Result."""
    from interop.harness.run import Result

    spec_path, result_path = workdir / "netns-spec.json", workdir / "result.json"
    spec_path.write_text(json.dumps(spec))
    script = 'ip link set lo up && exec "$0" -m interop.harness.netns "$1" "$2" "$3"'
    argv = ["unshare", "--user", "--map-root-user", "--net", "sh", "-c", script,
            sys.executable, str(spec_path), direction, str(workdir)]
    with trio.fail_after(float(spec.get("timeout_s", 300)) + GRACE_S):
        proc = await trio.run_process(argv, cwd=ROOT, env={**os.environ, NETNS_ENV: "1"}, check=False,
                                      capture_stdout=True, capture_stderr=True)
    if not result_path.exists():
        res = Result(spec["peer"], spec["name"], direction, spec.get("other", "node"), spec.get("expect", "pass"))
        res.error = (f"NetnsError: the namespaced run exited {proc.returncode} without a result: "
                     f"{proc.stderr.decode(errors='replace')[-1500:]}")
        return res
    data = json.loads(result_path.read_text())
    return Result(**{f.name: data[f.name] for f in fields(Result)})


async def _main(spec_path: str, direction: str, workdir: str) -> None:
    from interop.harness.run import run_one

    res = await run_one(json.loads(Path(spec_path).read_text()), direction, Path(workdir))
    (Path(workdir) / "result.json").write_text(json.dumps(asdict(res)))


if __name__ == "__main__":
    trio.run(_main, *sys.argv[1:4])
