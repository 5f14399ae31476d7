"""Tuning benchmark: ``mbmicro tune`` on a model, default vs tuned instructions; writes results/tune.md.

Runs the CLI as a user would (``--jobs`` local workers through the RPC tracker code path), times
it, and keeps its closing table (per kernel default vs tuned instructions and estimated cycles,
trials, and the whole-model totals).  Each run's log and section land in results/tune/ (<model>-<width>-<resolution>-<target>.jsonl
and .md), so running the benchmark again resumes instead of measuring everything anew (delete the
log for a cold run), and results/tune.md is rebuilt from every section there, with a summary
table first: one file per run lets several models and cores be tuned one after the other.

Usage: ``python benchmarks/tune.py [--model mobilenetv2 --width 0.35 --resolution 96 --classes 10]
[--target cortex-m4] [--trials 16] [--time-budget 10m] [--jobs 2] [--cost instructions|cycles]
[--search evolution|xgb] [--memory balanced|min|inplace|fast]``: ``--memory`` as tune's (the kernels a
build with that mode runs: fused layers' row kernels; default balanced, as build's).
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
    p.add_argument("--cost", default="instructions", choices=("instructions", "cycles"))
    p.add_argument("--search", default="evolution", choices=("evolution", "xgb"))
    p.add_argument("--memory", default="balanced", choices=("min", "balanced", "inplace", "fast"))
    a = p.parse_args()
    # the default run keeps its old file names (resumable logs: its whole-tensor records still
    # apply to the unfused layers); other costs, searches and memory modes get their own
    extra = "".join(f"-{v}" for v, d in ((a.cost, "instructions"), (a.search, "evolution"), (a.memory, "balanced"))
                    if v != d)
    stem = f"{a.model}-{a.width}-{a.resolution}-{a.target}{extra}"
    (RESULTS / "tune").mkdir(exist_ok=True)
    log = RESULTS / "tune" / f"{stem}.jsonl"
    resumed = log.exists()
    cmd = [sys.executable, "-m", "mbmicro", "tune", "--model", a.model, "--width", a.width, "--resolution",
           a.resolution, "--classes", a.classes, "--target", a.target, "--log", str(log), "--trials", a.trials,
           "--time-budget", a.time_budget, "--jobs", a.jobs, "--cost", a.cost, "--search", a.search,
           "--memory", a.memory]
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
            "is never worse. Totals count each kernel once per call: once per layer that uses it, a fused layer's "
            "row kernel once per row group (`--memory`, docs/TUNING.md).", "",
            *(line.replace(str(log), log.name) for line in done.stdout.strip().splitlines()), ""]
    text[0] = "#" + text[0]
    (RESULTS / "tune" / f"{stem}.md").write_text("\n".join(text))
    (RESULTS / "tune.md").write_text(assemble())
    print("\n".join(text))
    return 0


def _total(section: str) -> list[str]:
    """The whole-model row of a run's closing table: layers, default, tuned, cycles, trials."""
    for line in section.splitlines():
        if line.startswith("| **model total**"):
            return [c.strip() for c in line.strip("|").split("|")][1:7]
    return ["?"] * 6


def assemble() -> str:
    """results/tune.md: a summary row per run, then every run's section (sorted by name)."""
    sections = sorted((RESULTS / "tune").glob("*.md"))
    rows = ["## Tuning (`mbmicro tune`, benchmarks/tune.py)", "",
            "| run | layers | default instr | tuned instr | default est. cycles | tuned est. cycles | trials |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    rows += [f"| {p.stem} | " + " | ".join(_total(p.read_text())) + " |" for p in sections]
    return "\n".join(rows + [""] + [p.read_text().rstrip() + "\n" for p in sections])


if __name__ == "__main__":
    raise SystemExit(main())
