"""Arena size of the memory planners; writes results/planner.md.

For all 11 models at 0.35 / 96 px and 1.0 / 224 px (1000 classes, host kernels, whose
scratch needs are part of the plan): the arena of mbmicro's greedy planner (what builds
use), the lower bound (the most bytes live at any one layer, which no planner can beat),
and a linear planner (each buffer after the previous, reusing nothing) as the naive
baseline.  Ratio = greedy / lower bound: 1.000 means the plan is optimal.

Usage: ``python benchmarks/planner.py [--models a,b]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mbmicro.codegen.aot import lower_graph
from mbmicro import progress
from mbmicro.codegen.planner import LinearPlanner, plan_graph
from mbmicro.pipeline import make_model
from mbmicro.models.specs import MODEL_NAMES
from mbmicro.targets.target import load_target

RESULT = Path(__file__).resolve().parent / "results" / "planner.md"
SETTINGS = [(0.35, 96), (1.0, 224)]


def measure(model: str, width: float, resolution: int) -> dict:
    _, graph = make_model(model, width, resolution, 1000, 0)
    program = lower_graph(graph, load_target("host"), "m")
    plan = program.plan
    scratch = {s: n for s, (_, n) in plan.scratch.items()}
    linear = plan_graph(graph, LinearPlanner, scratch=scratch)
    return {"greedy": plan.peak, "lower_bound": plan.lower_bound, "linear": linear.peak}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODEL_NAMES))
    args = p.parse_args(argv)
    started = time.perf_counter()
    out = ["## Memory planner: arena bytes", "",
           "Written by `benchmarks/planner.py`. Host build, 1000 classes. Greedy is what `mbmicro build` uses; "
           "the lower bound is the most bytes live at any one layer (no plan can be smaller); linear reuses "
           "nothing. Ratio = greedy / lower bound.", "",
           "| model | width / res | greedy | lower bound | linear | greedy / lower bound | linear / greedy |",
           "|---|---|---|---|---|---|---|"]
    for model in progress.track(args.models.split(","), desc="planner", unit="model"):
        for width, res in SETTINGS:
            r = measure(model, width, res)
            out.append(f"| {model} | {width:g} / {res} | {r['greedy']:,} | {r['lower_bound']:,} | {r['linear']:,} | "
                       f"{r['greedy'] / r['lower_bound']:.3f} | {r['linear'] / r['greedy']:.2f} |")
            print(out[-1], flush=True)
    out += ["", f"Measured in {time.perf_counter() - started:.0f} s.", ""]
    RESULT.write_text("\n".join(out))
    print(f"wrote {RESULT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
