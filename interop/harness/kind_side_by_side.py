"""Scenario kind "side-by-side": relay throughput and latency of a line of our nodes and of a line of
go-libp2p-pubsub nodes, in the same run, with the same message size and rate schedule.

Each line (line_bench.py) is N processes connected 0-1-...-N-1; the head publishes each step's rate
for ``step_s`` seconds and the tail counts. Per step and line: delivered share at the tail, achieved
throughput (tail deliveries / (publishing time + time until the tail had them all)), latency p50/p99
from publish at the head to delivery at the tail. A step is *sustained* when >= 99% reached the tail
and the head really published at >= 95% of the rate. The figures hold both lines' steps, the ratios
ours/theirs of the max sustained throughput and of p50 latency, and a printed table.

The scenario passes when both lines were measured, every process exited cleanly, and both lines
delivered >= 99% at the lowest step. It never asserts who is faster: timings are noisy on a shared
machine; this reports them.
"""

from __future__ import annotations

import sys
from typing import Any

from interop.harness.line_bench import DELIVERED_MIN, check_size, measure_line, our_line, peer_line
from interop.harness.run import Run, scenario
from w3msg_libp2p.core.errors import ConfigError

NAMES = {"go": "go-libp2p-pubsub"}


def _max_sustained(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    sustained = [s for s in steps if s["sustained"]]
    return max(sustained, key=lambda s: s["rate"]) if sustained else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def headline(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> dict[str, Any]:
    """Max sustained rates and the ours/theirs ratios (throughput: higher is better for us; p50
    latency: lower is better for us)."""
    top = max(s["rate"] for s in ours)
    best_o, best_t = _max_sustained(ours), _max_sustained(theirs)
    by_rate = {s["rate"]: s for s in theirs}
    both = [(o, by_rate[o["rate"]]) for o in ours if o["sustained"] and by_rate[o["rate"]]["sustained"]]
    p50_by_rate = {str(o["rate"]): _ratio(o["p50_ms"], t["p50_ms"]) for o, t in both}
    at = both[-1] if both else None
    return {
        "ours_max_sustained_rate": best_o["rate"] if best_o else 0,
        "theirs_max_sustained_rate": best_t["rate"] if best_t else 0,
        "ours_max_sustained_msgs_per_s": best_o["msgs_per_s"] if best_o else 0,
        "theirs_max_sustained_msgs_per_s": best_t["msgs_per_s"] if best_t else 0,
        # a line sustaining the top step may do more: its figure (and a ratio using it) is a lower bound
        "ours_capped": best_o is not None and best_o["rate"] == top,
        "theirs_capped": best_t is not None and best_t["rate"] == top,
        "throughput_ratio": _ratio(best_o["msgs_per_s"] if best_o else 0,
                                   best_t["msgs_per_s"] if best_t else None),
        # p50 at the highest step both sustained: the most load at which the latencies compare
        "p50_ratio_at_rate": at[0]["rate"] if at else None,
        "p50_ratio": _ratio(at[0]["p50_ms"], at[1]["p50_ms"]) if at else None,
        "p50_ratio_by_rate": p50_by_rate,
    }


def _cell(s: dict[str, Any]) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    mark = " " if s["sustained"] else "*"
    return (f"{s['delivered_ratio']:>7.1%}{mark} {s['msgs_per_s'] or 0:>8.1f} {ms(s['p50_ms']):>7} "
            f"{ms(s['p99_ms']):>7}")


def table(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], theirs_name: str,
          head: dict[str, Any]) -> list[str]:
    cols = f"{'deliv':>8} {'msg/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
    lines = [f"{'':>6} | {'ours (w3msg)':<33} | {theirs_name:<33}",
             f"{'rate':>6} | {cols} | {cols}"]
    lines += [f"{o['rate']:>6} | {_cell(o)} | {_cell(t)}" for o, t in zip(ours, theirs, strict=True)]
    lines.append("(* not sustained: < 99% delivered at the tail, or the head published below 95% of the rate)")
    for name, steps in (("ours", ours), ("theirs", theirs)):
        dropped = {s["rate"]: s["dropped_total"] for s in steps if s["dropped_total"]}
        if dropped:  # go-libp2p-pubsub drops RPCs when a peer's outbound queue (32 by default) is full
            lines.append(f"{name} dropped on full queues (all nodes, by rate): {dropped}")
    lines.append(
        f"max sustained: ours {head['ours_max_sustained_rate']} msg/s step "
        f"({head['ours_max_sustained_msgs_per_s']} msg/s{', capped' if head['ours_capped'] else ''}), "
        f"theirs {head['theirs_max_sustained_rate']} ({head['theirs_max_sustained_msgs_per_s']} msg/s"
        f"{', capped' if head['theirs_capped'] else ''}); throughput ratio ours/theirs {head['throughput_ratio']}; "
        f"p50 ratio ours/theirs {head['p50_ratio']} at {head['p50_ratio_at_rate']} msg/s")
    return lines


@scenario("side-by-side", two_party=False)
async def side_by_side(run: Run) -> bool:
    params, figures = run.params, run.figures
    nodes, size = int(params.get("nodes", 5)), int(params.get("size", 1024))
    rates = sorted(int(r) for r in params.get("rates", [200, 500, 1000, 2000]))
    step_s, settle_s = float(params.get("step_s", 3)), float(params.get("settle_s", 1))
    kind, extra = str(run.spec["peer"]), tuple(run.spec.get("peer_args", ()))
    check_size(size)
    if not rates or nodes < 2:
        raise ConfigError(f"side-by-side needs rates and nodes >= 2 (got rates={rates}, nodes={nodes})")
    figures["config"] = {"nodes": nodes, "size": size, "rates": rates, "step_s": step_s, "theirs": kind,
                         "theirs_args": list(extra)}

    def log(impl: str) -> Any:
        return lambda text: print(f"[side-by-side {impl}] {text}", file=sys.stderr, flush=True)

    async with our_line(nodes, run.workdir) as ours:
        figures["ours"] = {"mesh_sizes": ours.mesh_sizes,
                           "steps": await measure_line(ours, rates, step_s, settle_s, log("ours"))}
    figures["ours"]["exit_codes"] = ours.exit_codes
    async with peer_line(kind, nodes, size, run.workdir, extra) as theirs:
        figures["theirs"] = {"mesh_sizes": theirs.mesh_sizes,
                             "steps": await measure_line(theirs, rates, step_s, settle_s, log(kind))}
    figures["theirs"]["exit_codes"] = theirs.exit_codes

    o_steps, t_steps = figures["ours"]["steps"], figures["theirs"]["steps"]
    head = headline(o_steps, t_steps)
    figures.update(head)
    figures["table"] = table(o_steps, t_steps, NAMES.get(kind, kind), head)
    print("\n".join(figures["table"]), flush=True)
    clean = all(code == 0 for code in ours.exit_codes + theirs.exit_codes)
    low = [o_steps[0]["delivered_ratio"], t_steps[0]["delivered_ratio"]]
    figures["lowest_step_delivered"] = low
    figures["parties"] = f"{nodes} ours | {nodes} {kind}"
    figures["summary"] = (f"max sustained {head['ours_max_sustained_msgs_per_s']} vs "
                          f"{head['theirs_max_sustained_msgs_per_s']} msg/s (ratio {head['throughput_ratio']}), "
                          f"p50 ratio {head['p50_ratio']} at {head['p50_ratio_at_rate']} msg/s")
    return clean and all(d >= DELIVERED_MIN for d in low)
