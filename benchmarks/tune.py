"""Tuning benchmark: ``mbmicro tune`` on a model, default vs tuned instructions; writes results/tune.md.

Runs the CLI as a user would (``--jobs`` local workers through the RPC tracker code path), times
it, and keeps its closing table (per kernel default vs tuned instructions and estimated cycles,
trials, and the whole-model totals).  The log lands next to the report (results/tune-<model>-
<target>.jsonl), so running the benchmark again resumes instead of measuring everything anew;
delete the log for a cold run.

Usage: ``python benchmarks/tune.py [--model mobilenetv2 --width 0.35 --resolution 96 --classes 10]
[--target cortex-m4] [--trials 16] [--time-budget 10m] [--jobs 2]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mobilenetv2")
    p.add_argument("--width", default="0.35")
    p.add_argument("--resolution", default="96")
    p.add_argument("--classes", default="10")
    p.add_argument("--target", default="cortex-m4")
    p.add_argument("--trials", default="16")
    p.add_argument("--time-budget", default="10m")
    p.add_argument("--jobs", default="2")
    a = p.parse_args()
    log = RESULTS / f"tune-{a.model}-{a.width}-{a.resolution}-{a.target}.jsonl"
    resumed = log.exists()
    cmd = [sys.executable, "-m", "mbmicro", "tune", "--model", a.model, "--width", a.width, "--resolution",
           a.resolution, "--classes", a.classes, "--target", a.target, "--log", str(log), "--trials", a.trials,
           "--time-budget", a.time_budget, "--jobs", a.jobs]
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode not in (0, 130):
        sys.stderr.write(done.stderr)
        return done.returncode
    shown = " ".join(c if not c.startswith("/") else Path(c).name for c in cmd[1:])
    text = [f"## Tuning {a.model} {a.width}/{a.resolution}/{a.classes} on {a.target}", "",
            f"`python {shown}` ({'resumed from an existing log' if resumed else 'cold log'}): "
            f"{wall:.0f} s wall on {os.cpu_count()} cores ({platform.machine()}), shared with other work.", "",
            "Instructions are QEMU's counts of the kernel call; cycles are the estimate of mbmicro.sim.cycles "
            "(instruction mix x cycles per class, no caches or stalls). Every tuned number is of a candidate "
            "verified bit-exact against mbmicro.reference.int8; the defaults are always a candidate, so tuned "
            "is never worse. Totals count each kernel once per layer that uses it.", "",
            *done.stdout.strip().splitlines(), ""]
    (RESULTS / "tune.md").write_text("\n".join(text))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
