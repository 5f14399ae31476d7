"""Depthwise layers on the Cortex-M4/M7 in QEMU: instructions per MAC of one-layer builds.

Why a script of its own: the DSP depthwise micro-kernel (issue 9) is judged per layer
shape (3x3 / 5x5 / 7x7, stride 1 and 2, 8 to 960 channels) against CMSIS-NN's figures
of /work/shared/notes/simulators.md, and before/after a schedule change.  Each shape is
a one-layer int8 graph (benchmarks/targets.py's recipe, kernel size as a parameter),
built twice -- with the scalar schedule (knob micro = none) and with the default knobs
of ``mbmicro build`` -- verified bit-exact against the NumPy reference on one seeded
input and profiled (executed instructions of the layer, QEMU plugin).

Usage: ``python benchmarks/depthwise.py [--cores cortex-m4,cortex-m7] [--shapes 0,1]``;
prints one line per layer; a full run (all shapes, M4 and M7) writes
results/depthwise.md and results/depthwise.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mbmicro import progress

HERE = Path(__file__).resolve().parent
RESULT_MD = HERE / "results" / "depthwise.md"
RESULT_JSON = HERE / "results" / "depthwise.json"
#: (kernel, input size, channels, stride); the first two are the CMSIS-NN shapes of simulators.md
SHAPES = [(3, 24, 96, 1), (3, 48, 96, 2), (3, 48, 8, 1), (3, 6, 960, 1), (3, 12, 240, 2),
          (5, 12, 240, 1), (5, 24, 72, 2), (5, 6, 480, 1), (7, 12, 120, 1), (7, 24, 48, 2), (7, 6, 960, 1)]
#: CMSIS-NN v7 instructions per MAC (simulators.md), M4 / M7, where measured
CMSIS = {(3, 24, 96, 1): (8.64, 8.50), (3, 48, 96, 2): (8.74, 8.58)}
LAYER_SRAM = 4 << 20


def layer_graph(k: int, size: int, c: int, stride: int):
    """One quantized depthwise layer (random He weights, seeded random calibration)."""
    from mbmicro.graph.ir import Graph, Node, Tensor, conv_out_size, same_padding
    from mbmicro.quant.ptq import quantize_graph

    rng = np.random.default_rng(0)
    out = conv_out_size(size, stride)
    pt, pb = same_padding(size, k, stride)
    node = Node("layer", "depthwise", ["x"], ["y"],
                {"kernel": (k, k), "stride": stride, "pad": (pt, pt, pb, pb), "act": "relu6"},
                {"weight": (rng.standard_normal((k, k, c)) * np.sqrt(2 / (k * k))).astype(np.float32),
                 "bias": (0.1 * rng.standard_normal(c)).astype(np.float32)})
    tensors = {"x": Tensor("x", (1, size, size, c)), "y": Tensor("y", (1, out, out, c))}
    return quantize_graph(Graph(f"dw{k}-{size}x{c}-s{stride}", tensors, [node], ["x"], ["y"]))


def measure(shape, core: str, knobs: dict | None) -> dict:
    """Build, verify and profile one layer; knobs override the defaults of the layer's node."""
    from mbmicro.cli import main as cli_main
    from mbmicro.codegen.kernels import lower_node
    from mbmicro.codegen.project import build_project
    from mbmicro.commands.profile import profile
    from mbmicro.targets.budgets import with_budgets
    from mbmicro.targets.target import load_target

    graph = layer_graph(*shape)
    target = with_budgets(load_target(core), sram=LAYER_SRAM)

    def lower(g, node, tgt, given=None):
        return lower_node(g, node, tgt, knobs if knobs else given)

    with tempfile.TemporaryDirectory(prefix="bench-dw-") as tmp:
        folder = Path(tmp) / "b"
        build_project(graph, target, folder, prefix="m", force=True, info={"model": graph.name, "options": {}},
                      lower=lower, started=time.perf_counter())
        with contextlib.redirect_stdout(io.StringIO()):
            verified = cli_main(["verify", str(folder), "--count", "1"]) == 0
        layer = profile(folder)["layers"][0]
    k, size, c, s = shape
    return {"kernel": k, "size": size, "channels": c, "stride": s, "core": core, "verified": verified,
            "instructions": layer["instructions"], "macs": layer["macs"],
            "instructions_per_mac": layer["instructions_per_mac"]}


def _ratio(value: float, ref: float | None) -> str:
    return f"{value / ref:.2f}" if ref else "-"


def render(rows: list[dict]) -> str:
    """The markdown section: scalar schedule (micro none) beside the default kernel, per core and shape."""
    out = ["## Depthwise layers on the Cortex-M4 / M7", "",
           "Written by `benchmarks/depthwise.py`. One-layer int8 graphs (random He weights, seeded calibration, "
           "ReLU6, TF SAME padding), built by mbmicro, verified bit-exact against the NumPy reference on one "
           "seeded input, profiled in QEMU (executed instructions per MAC of the layer). `scalar`: the "
           "channel-blocked schedule (knob micro = none, the default before issue 9); `default`: what "
           "`mbmicro build` picks (on M4/M7 the SMLAD band kernel, micro = dsp). CMSIS-NN v7 figures from "
           "the shared simulator notes where measured.", "",
           "| core | layer | scalar instr/MAC | default instr/MAC | default / scalar | verified | CMSIS-NN | "
           "default / CMSIS-NN |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ref, ours = r["cmsis_nn"], r["instructions_per_mac"]
        out.append(f"| {r['core']} | {r['kernel']}x{r['kernel']} s{r['stride']} {r['size']}x{r['size']}x"
                   f"{r['channels']} | {r['scalar']:.2f} | {ours:.2f} | {ours / r['scalar']:.2f} | "
                   f"{'yes' if r['verified'] and r['scalar_verified'] else 'NO'} | "
                   f"{f'{ref:.2f}' if ref else '-'} | {_ratio(ours, ref)} |")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cores", default="cortex-m4,cortex-m7")
    p.add_argument("--shapes", default="", help="indices into SHAPES, comma-separated (default: all)")
    args = p.parse_args(argv)
    shapes = [SHAPES[int(i)] for i in args.shapes.split(",")] if args.shapes else SHAPES
    rows = []
    for core in args.cores.split(","):
        for shape in progress.track(shapes, desc=f"depthwise {core}", unit="shape"):
            scalar = measure(shape, core, {"micro": "none"})
            r = measure(shape, core, None)
            r.update(scalar=scalar["instructions_per_mac"], scalar_verified=scalar["verified"],
                     cmsis_nn=CMSIS.get(shape, (None, None))[0 if core == "cortex-m4" else 1])
            rows.append(r)
            print(f"{core} dw{shape[0]}x{shape[0]} s{shape[3]} {shape[1]}x{shape[1]}x{shape[2]}: "
                  f"{r['scalar']:.2f} -> {r['instructions_per_mac']:.2f} instr/MAC "
                  f"verified={r['verified'] and r['scalar_verified']} ratio {_ratio(r['instructions_per_mac'], r['cmsis_nn'])}",
                  flush=True)
    if not args.shapes and args.cores == "cortex-m4,cortex-m7":
        RESULT_JSON.write_text(json.dumps(rows, indent=1) + "\n")
        RESULT_MD.write_text(render(rows))
        print(f"wrote {RESULT_MD} and {RESULT_JSON}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
