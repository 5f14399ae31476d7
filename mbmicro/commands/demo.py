"""``mbmicro demo``: MobileNetV2 on a Cortex-A53, end to end, in one command (``make demo``).

Why these steps: they are the promise of the project in order -- build the
model at its paper defaults (width 1.0, 224 px, 1000 classes) for a real
application core, run the generated C in QEMU, show it equals the NumPy int8
reference bit for bit, and say what it costs in executed instructions.  Every
step is the same code the commands use (build_project, run_build, profile),
so the demo cannot drift from them.

The weights are seeded random (no training data ships with mbmicro) and the
image is a seeded random one, so the top-5 classes show the pipeline works,
not what the image shows.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

HELP = "build MobileNetV2 for cortex-a53, run it in QEMU, check it bit-exact and count instructions"
MODEL, TARGET = "mobilenetv2", "cortex-a53"
DEFAULT_OUT = Path("out") / "demo-mobilenetv2-a53"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"build folder, replaced if it is an earlier build (default {DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input image (default 0)")


def top_k(scores: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """(class index, score) of the k best scores, ties broken by the lower index."""
    flat = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-flat, kind="stable")[:k]
    return [(int(i), float(flat[i])) for i in order]


def run(args: argparse.Namespace) -> int:
    from mbmicro.codegen.project import build_project
    from mbmicro.codegen.report import code_summary
    from mbmicro.commands.profile import add_to_report, profile
    from mbmicro.commands.table import print_table
    from mbmicro.errors import UserError
    from mbmicro.graph.fusion import DEFAULT_MEMORY_MODE
    from mbmicro.pipeline import dequantize_output, make_model, quantize_input, random_input
    from mbmicro.reference.int8 import run_int8
    from mbmicro.sim.build_folder import load_build_folder
    from mbmicro.sim.execute import run_build
    from mbmicro.targets.target import load_target
    from mbmicro.units import format_bytes

    if args.seed < 0:
        raise UserError(f"--seed {args.seed} is invalid: pass 0 or a larger integer")
    started = time.perf_counter()
    out = args.out
    target = load_target(TARGET)
    print(f"demo: {MODEL} (width 1.0, 224 px, 1000 classes, seeded random weights) for {target.name} "
          f"({target.board_name}), QEMU user mode", flush=True)
    _, graph = make_model(MODEL)
    info = {"model": MODEL, "options": {"width": 1.0, "resolution": 224, "classes": 1000, "seed": 0,
                                        "calibration": None}}
    # the memory mode `mbmicro build` uses by default: what a user's first build would be
    rep = build_project(graph, target, out, prefix="mobilenetv2", force=True, info=info, started=started,
                        memory=DEFAULT_MEMORY_MODE, retry_memory="min")
    print(f"built {out} in {rep['build_time_s']:.1f} s: arena {format_bytes(rep['arena_bytes'])} "
          f"(--memory {rep['memory_mode']}, unfused {format_bytes(rep['arena_unfused_bytes'])}), "
          f"weights {format_bytes(rep['weights_bytes'])}, code {code_summary(rep)}", flush=True)

    x = quantize_input(graph, random_input(graph, args.seed))
    y, _ = run_build(load_build_folder(out), x)
    exact = bool(np.array_equal(y, run_int8(graph, x)))
    print(f"ran on a seeded random image (seed {args.seed}): output "
          f"{'bit-exact with' if exact else 'DIFFERS from'} the NumPy int8 reference")
    print_table(["rank", "class", "score"], [[rank, index, f"{score:.4f}"] for rank, (index, score)
                                             in enumerate(top_k(dequantize_output(graph, y)), 1)], "rrr",
                title="top-5 classes (dequantized scores):")

    prof = profile(out)
    add_to_report(out, prof)
    total = prof["total"]
    print(f"executed instructions (QEMU plugin, {len(prof['layers'])} layers): {total['instructions']:,} "
          f"for {total['macs']:,} MACs = {total['instructions_per_mac']:.2f} instructions/MAC "
          f"(per layer: 'mbmicro profile {out}', and the report with plots: {out / 'report.html'})")
    print(f"demo {'passed' if exact else 'FAILED'} in {time.perf_counter() - started:.0f} s")
    return 0 if exact else 1
