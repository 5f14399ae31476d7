"""Arena size of the memory planners; writes results/planner.md.

For all 11 models at 0.35 / 96 px and 1.0 / 224 px (1000 classes): the arena of
mbmicro's greedy planner (what builds use), the lower bound (the most bytes live at any
one layer, which no planner can beat), and a linear planner (each buffer after the
previous, reusing nothing) as the naive baseline; unfused (``build --memory fast``) and
with the fused row regions of the default ``--memory balanced`` (mbmicro/graph/fusion/,
whose rings are scratch of the region's step).  Ratio = greedy / lower bound: 1.000 means
the plan is optimal.  Kernel scratch lives on the stack, not in the arena, so the plan
needs no lowered kernels: this is the build's own plan, from the graph alone.

Usage: ``python benchmarks/planner.py [--models a,b]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mbmicro import progress
from mbmicro.codegen.fused import build_regions
from mbmicro.codegen.planner import LinearPlanner, plan_graph
from mbmicro.models.specs import MODEL_NAMES
from mbmicro.pipeline import make_model

RESULT = Path(__file__).resolve().parent / "results" / "planner.md"
SETTINGS = [(0.35, 96), (1.0, 224)]


def measure(model: str, width: float, resolution: int) -> dict:
    """Greedy, lower bound and linear arena bytes, unfused and balanced (the build's regions)."""
    _, graph = make_model(model, width, resolution, 1000, 0)
    out = {}
    for mode in ("fast", "balanced"):
        regions = build_regions(graph, mode, False)
        plan = plan_graph(graph, regions=regions)
        linear = plan_graph(graph, LinearPlanner, regions=regions)
        out[mode] = {"greedy": plan.peak, "lower_bound": plan.lower_bound, "linear": linear.peak}
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODEL_NAMES))
    args = p.parse_args(argv)
    started = time.perf_counter()
    out = ["## Memory planner: arena bytes", "",
           "Written by `benchmarks/planner.py`. 1000 classes; memory: `build --memory` (fast: unfused, balanced: the default, fused row regions). Greedy is what `mbmicro build` uses; "
           "the lower bound is the most bytes live at any one layer (no plan can be smaller); linear reuses "
           "nothing. Ratio = greedy / lower bound.", "",
           "| model | width / res | memory | greedy | lower bound | linear | greedy / lower bound | linear / greedy |",
           "|---|---|---|---|---|---|---|---|"]
    for model in progress.track(args.models.split(","), desc="planner", unit="model"):
        for width, res in SETTINGS:
            for mode, r in measure(model, width, res).items():
                out.append(f"| {model} | {width:g} / {res} | {mode} | {r['greedy']:,} | {r['lower_bound']:,} | "
                           f"{r['linear']:,} | {r['greedy'] / r['lower_bound']:.3f} | {r['linear'] / r['greedy']:.2f} |")
                print(out[-1], flush=True)
    out += ["", f"Measured in {time.perf_counter() - started:.0f} s.", ""]
    RESULT.write_text("\n".join(out))
    print(f"wrote {RESULT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
