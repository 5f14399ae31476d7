"""What a two-pass SE region would save and cost, from plans alone; writes results/se_two_pass.md.

Why a benchmark and not a feature (docs/MEMORY.md "SE blocks"): an SE block's gate is pooled
over its whole depthwise output, so a row pipeline cannot run past the pool.  mbmicro keeps
that output (expand -> depthwise fused into it, nothing recomputed).  The alternative of
issue 12 is a two-pass region: pass 1 streams the region's stages up to the depthwise to get
the pool sums, pass 2 runs them again and applies the gate on the way into the projection;
the depthwise output then never exists.  This script measures both sides of that trade-off
without building it:

* memory: each SE model planned with its SE branches cut out (the gate multiply passes its
  input through), so ``--memory balanced`` and ``min`` may fuse across the block -- the arena a
  two-pass build would reach at best (the gate's few bytes aside);
* cost: the MACs pass 2 would repeat, for every SE block whose projection the cut graph's
  regions fuse: all stages of that region from its start up to the block's depthwise (a
  region spanning several SE blocks repeats its earlier stages once per block), as a share of
  the model's MACs.

Usage: ``python benchmarks/se_two_pass.py [--models a,b]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from mbmicro.codegen.fused import build_regions
from mbmicro.codegen.planner import plan_graph
from mbmicro.graph.ir import Graph, macs
from mbmicro.pipeline import make_model

RESULT = Path(__file__).resolve().parent / "results" / "se_two_pass.md"
#: Table A models with SE blocks, at the M4 config of benchmarks/targets.py's family
MODELS = ["mobilenetv3-large", "efficientnet-b0", "mixnet-m", "rexnet"]
CONFIG = (0.35, 96, 10)
MODES = ("balanced", "min")


def se_blocks(graph: Graph) -> list[str]:
    """Prefixes (``s2b1``) of the blocks that have an SE branch (a ``<block>.se.pool`` node)."""
    return [n.name.split(".se.")[0] for n in graph.nodes if n.name.endswith(".se.pool")]


def cut_se(graph: Graph) -> Graph:
    """``graph`` without its SE branches: each gate multiply's readers read its input instead."""
    alias, nodes = {}, []
    for n in graph.nodes:
        if ".se." in n.name:
            if n.op == "mul":
                alias[n.outputs[0]] = alias.get(n.inputs[0], n.inputs[0])
            continue
        nodes.append(dataclasses.replace(n, inputs=[alias.get(t, t) for t in n.inputs], outputs=list(n.outputs)))
    used = {t for n in nodes for t in n.inputs + n.outputs} | set(graph.inputs) | set(graph.outputs)
    return Graph(graph.name, {k: v for k, v in graph.tensors.items() if k in used}, nodes, list(graph.inputs),
                 list(graph.outputs), dict(graph.meta))


def recompute_macs(graph: Graph, cut: Graph, regions: list) -> tuple[int, list[str]]:
    """MACs pass 2 repeats under ``regions`` of the cut graph, and the SE blocks they span."""
    blocks = set(se_blocks(graph))
    cost, spanned = 0, []
    for r in regions:
        names = r.nodes
        for i, name in enumerate(names):
            block, _, leaf = name.rpartition(".")
            if leaf == "project" and block in blocks and i > 0:
                spanned.append(block)
                cost += sum(macs(cut, cut.node(m)) for m in names[:i])
    return cost, spanned


def measure(model: str) -> dict:
    _, graph = make_model(model, *CONFIG, 0)
    cut = cut_se(graph)
    total = sum(macs(graph, n) for n in graph.nodes)
    row = {"model": model, "se_blocks": len(se_blocks(graph)), "macs": total}
    for mode in MODES:
        kept = plan_graph(graph, regions=build_regions(graph, mode, False)).peak
        regions = build_regions(cut, mode, False)
        two_pass = plan_graph(cut, regions=regions).peak
        rec, spanned = recompute_macs(graph, cut, regions)
        row[mode] = {"kept": kept, "two_pass": two_pass, "recompute_macs": rec, "blocks": spanned}
    return row


def table(rows: list[dict]) -> list[str]:
    out = ["## SE blocks: the two-pass trade-off (plans)", "",
           "Written by `benchmarks/se_two_pass.py` (docs/MEMORY.md \"SE blocks\"). Width / resolution / classes "
           f"{CONFIG[0]:g} / {CONFIG[1]} / {CONFIG[2]}; arena bytes with the input and output outside it. "
           "Kept: what mbmicro builds (the depthwise output of an SE block exists in full). Two-pass: the same "
           "model planned with its SE branches cut out, the best a two-pass SE region could reach. Recompute: "
           "the MACs pass 2 would repeat in the SE blocks the cut plan fuses, as a share of the model's.", "",
           "| model | SE blocks | mode | arena kept | arena two-pass | saved | recompute | blocks two-passed |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for mode in MODES:
            m = r[mode]
            saved = 1 - m["two_pass"] / m["kept"]
            blocks = ", ".join(m["blocks"]) if len(m["blocks"]) <= 4 else f"{len(m['blocks'])} blocks"
            out.append(f"| {r['model']} | {r['se_blocks']} | {mode} | {m['kept']:,} | {m['two_pass']:,} | "
                       f"{saved:.0%} | {m['recompute_macs'] / r['macs']:.1%} | {blocks or '-'} |")
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="", help=f"comma-separated (default: {', '.join(MODELS)})")
    args = p.parse_args(argv)
    started = time.perf_counter()
    rows = [measure(m) for m in (args.models.split(",") if args.models else MODELS)]
    out = table(rows) + ["", f"Measured in {time.perf_counter() - started:.0f} s.", ""]
    RESULT.write_text("\n".join(out))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
