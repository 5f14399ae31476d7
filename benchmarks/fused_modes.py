"""Every fused variant on all 11 models x 4 ARM cores in QEMU; writes results/fused_modes.md and .json.

Why: issue 12's check asks that every fused variant is verified against the NumPy reference on
all 11 models, SE blocks, MixNet's grouped and mixed-kernel blocks, ReXNet's partial residuals
and stride-2 blocks included.  benchmarks/targets.py verifies the default ``--memory balanced``;
this script builds the same models and configs (targets.CONFIGS) with ``--memory inplace`` and
``--memory min`` through the same build / verify / profile code (targets.model_job), as asked
(never retried in another mode: a model a mode does not fit is an error row), and says per model
x core x mode which regions were fused, what kinds of stages they contain
(targets.region_kinds), whether the C equals the reference bit for bit on one seeded input, and
the arena and instructions against the balanced numbers of results/targets.json.

Usage: ``python benchmarks/fused_modes.py [--jobs 2] [--models a,b] [--cores c,d] [--modes inplace,min]``.
Each finished job is cached in out/bench-targets/ as ``model@core@mode.json`` (delete to re-measure).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mbmicro import progress
from mbmicro.models.specs import MODEL_NAMES

HERE = Path(__file__).resolve().parent
RESULT_MD = HERE / "results" / "fused_modes.md"
RESULT_JSON = HERE / "results" / "fused_modes.json"
MODES = ["inplace", "min"]
#: the kinds of region issue 12's check names, in the table's order (targets.region_kinds)
KINDS = ["SE-block chain", "mixed-kernel", "grouped 1x1", "partial add", "stride 2", "in-place dw"]


def _targets():
    """benchmarks/ is not a package: targets.py loaded by path (as the tests load the scripts)."""
    if "mbmicro_bench_targets" not in sys.modules:
        spec = importlib.util.spec_from_file_location("mbmicro_bench_targets", HERE / "targets.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["mbmicro_bench_targets"]


def _run(job: tuple) -> dict:
    model, core, mode = job
    result = _targets().model_job(model, core, memory=mode)
    return dict(result, mode=mode)


def baseline(path: Path = HERE / "results" / "targets.json") -> dict:
    """(model, core) -> targets.py's result (the balanced build), {} when not measured yet."""
    if not path.exists():
        return {}
    return {(r["model"], r["core"]): r for r in json.loads(path.read_text())["models"] if "error" not in r}


def kind_counts(result: dict) -> dict:
    """Kind -> number of the result's fused regions containing it (only kinds found)."""
    counts = {}
    for region in result.get("fused_regions", []):
        for kind in region["kinds"]:
            counts[kind] = counts.get(kind, 0) + 1
    return {k: counts[k] for k in KINDS if k in counts}


def _delta(value: int, base: int | None) -> str:
    return "" if not base else f" ({(value - base) / base:+.1%})"


def _sram(result: dict) -> int | None:
    """The model's SRAM (arena + input/output outside it + its stack and static data): comparable
    across modes, where the arena of min holds the input and output and balanced's does not."""
    return (result.get("memory") or {}).get("model_sram_bytes")


def row(result: dict, base: dict | None) -> dict:
    """One table row as text cells: the result beside its balanced baseline (None: not measured)."""
    cells = {"model": result["model"], "core": result["core"], "mode": result["mode"]}
    if "error" in result:
        return dict(cells, verified=f"no: {result['error']}", regions="", kinds="", arena="", sram="",
                    instructions="")
    kinds = kind_counts(result)
    base = base or {}
    return dict(cells, verified="yes" if result["verified"] else "NO",
                regions=str(len(result["fused_regions"])),
                kinds=", ".join(f"{k} {n}" for k, n in kinds.items()) or "-",
                arena=f"{result['arena_bytes']:,}{_delta(result['arena_bytes'], base.get('arena_bytes'))}",
                sram=f"{_sram(result):,}{_delta(_sram(result), _sram(base))}",
                instructions=f"{result['instructions']:,}"
                             f"{_delta(result['instructions'], base.get('instructions'))}")


def coverage(results: list[dict]) -> dict:
    """(mode, core) -> kinds found in at least one verified build: what the matrix really checked."""
    out = {}
    for r in results:
        if r.get("verified"):
            out.setdefault((r["mode"], r["core"]), set()).update(kind_counts(r))
    return out


def render(results: list[dict], base: dict, wall_s: float, jobs: int) -> str:
    columns = ["model", "core", "mode", "verified", "regions", "kinds", "arena", "sram", "instructions"]
    failed = [r for r in results if not r.get("verified")]
    out = ["## Fused variants: `--memory inplace` and `min` on 11 models x 4 cores", "",
           "Written by `benchmarks/fused_modes.py`. The models and configs of the targets table, built with "
           "`--memory inplace` (in-place depthwise only) and `--memory min` (every chain that lowers the peak "
           "fused, in-place depthwise added, input and output in the arena), never retried in another mode, "
           "verified bit for bit against the NumPy int8 reference in QEMU on one seeded input and profiled "
           "(executed instructions, all-zero input). Regions: fused row regions of the build (an in-place "
           "depthwise is a one-layer region); kinds: how many of them contain an SE block's expand -> "
           "depthwise chain (its output pooled and gated), MixNet's mixed-kernel depthwise, a grouped 1x1, "
           "ReXNet's partial residual add, a stride-2 layer, or are an in-place depthwise. Arena: bytes (with "
           "min it holds the input and output too); sram: the model's SRAM, arena + input/output outside it + "
           "its stack (comparable across modes); in parentheses, arena, sram and instructions against the "
           "balanced build of the targets table. "
           f"Build, verify and profile jobs: {sum(r.get('job_time_s', 0) for r in results) / 60:.0f} min in all "
           f"(this run {wall_s / 60:.0f} min with {jobs} parallel jobs; jobs cached in out/bench-targets/ "
           "are not re-measured); "
           f"{len(results) - len(failed)} of {len(results)} builds verified.", "",
           "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        cells = row(r, base.get((r["model"], r["core"])))
        out.append("| " + " | ".join(cells[c] for c in columns) + " |")
    out += ["", "### Kinds verified per mode and core", "",
            "| mode | core | " + " | ".join(KINDS) + " |", "|---|---|" + "---|" * len(KINDS)]
    cov = coverage(results)
    for mode, core in sorted({(r["mode"], r["core"]) for r in results}):
        found = cov.get((mode, core), set())
        out.append(f"| {mode} | {core} | " + " | ".join("yes" if k in found else "-" for k in KINDS) + " |")
    out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--models", default=",".join(MODEL_NAMES))
    p.add_argument("--cores", default=",".join(_targets().CORES))
    p.add_argument("--modes", default=",".join(MODES))
    args = p.parse_args(argv)
    started = time.perf_counter()
    work = [(m, c, mode) for m in args.models.split(",") for c in args.cores.split(",")
            for mode in args.modes.split(",")]
    results = []
    with ProcessPoolExecutor(max_workers=args.jobs, initializer=progress.set_quiet, initargs=(True,)) as pool:
        for r in progress.track(pool.map(_run, work), total=len(work), desc="fused modes", unit="build"):
            results.append(r)
            status = r.get("error") or f"verified={r['verified']} regions={len(r['fused_regions'])}"
            print(f"{r['model']} {r['core']} {r['mode']}: {status}", flush=True)
    wall = time.perf_counter() - started
    RESULT_JSON.write_text(json.dumps({"configs": _targets().CONFIGS, "results": results}, indent=1) + "\n")
    RESULT_MD.write_text(render(results, baseline(), wall, args.jobs))
    print(f"wrote {RESULT_MD} and {RESULT_JSON} in {wall / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
