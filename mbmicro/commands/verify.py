"""``mbmicro verify DIR``: the generated C must equal the int8 reference bit for bit.

Why it traces on failure: "the outputs differ" is not actionable; rebuilding
with -DMBMICRO_TRACE dumps every layer's output, and the first layer that
differs from the reference names the kernel to fix.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mbmicro.errors import UserError

HELP = "build and run a build folder on random inputs and compare bit for bit with the int8 reference"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="a folder made by 'mbmicro build'")
    p.add_argument("--count", type=int, default=3, help="number of random int8 inputs (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")


def first_mismatch(graph, records, reference: dict) -> str | None:
    """Describe the first traced layer whose bytes differ from the reference, or None."""
    for index, data in records:
        if not 0 <= index < len(graph.nodes):
            return f"trace names layer {index}, but the graph has {len(graph.nodes)} layers"
        node = graph.nodes[index]
        want = reference[node.outputs[0]].astype(np.int16).reshape(-1)
        got = np.frombuffer(data, dtype=np.int8).astype(np.int16)
        if got.size != want.size:
            return f"layer {index} {node.name} ({node.op}): {got.size} bytes traced, {want.size} expected"
        diff = np.abs(got - want)
        if diff.any():
            return (f"first mismatching layer {index} {node.name} ({node.op}): "
                    f"{int((diff > 0).sum())} of {diff.size} bytes differ, max |diff| {int(diff.max())}")
    return None


def run(args: argparse.Namespace) -> int:
    from mbmicro.codegen.project import load_build
    from mbmicro.graph.serialize import load_graph
    from mbmicro.reference.int8 import run_int8
    from mbmicro.sim.execute import run_build
    from mbmicro.targets.target import load_target

    if args.count < 1:
        raise UserError(f"--count {args.count} is invalid: pass 1 or more")
    folder = Path(args.dir)
    build = load_build(folder)
    graph = load_graph(folder)
    target = load_target(build["target"])
    rng = np.random.default_rng(args.seed)
    for i in range(args.count):
        x = rng.integers(-128, 128, size=tuple(graph.input.shape), dtype=np.int8)
        y, _ = run_build(folder, build, target, x)
        want = run_int8(graph, x)
        if np.array_equal(y, want):
            continue
        print(f"input {i}: output differs from the reference in {int((y != want).sum())} of {y.size} values")
        _, records = run_build(folder, build, target, x, trace=True)
        where = first_mismatch(graph, records, run_int8(graph, x, collect=True))
        print(where or "every traced layer matches: the difference is in the final copy to the output")
        print(f"verification FAILED on input {i + 1}/{args.count} ({build['model']}, {build['target']})")
        return 1
    print(f"verified {args.count}/{args.count} inputs bit-exact ({build['model']}, {build['target']})")
    return 0
