"""report.json, report.md and report.html of a build: what the model costs on the target.

Why three: report.json is for scripts (benchmarks, CI checks on arena growth),
report.md is for people, report.html is report.md with its plots embedded
(codegen/report_html.py; the plots: codegen/report_plots.py; the per-layer
rows: codegen/report_layers.py). All of them are drawn from the report dict
alone, so ``mbmicro profile`` redraws them with the per-layer counts.
Every number says where it comes from: code bytes are measured with the
toolchain's ``size`` on the compiled model objects when the compiler is
installed, and otherwise estimated (and labelled so).  Build time is in none
of the files (the build command prints it): two identical builds give
byte-identical reports, plots included.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from mbmicro.codegen import provenance, report_html, report_layers, report_plots, stack
from mbmicro.codegen.planner import LinearPlanner, dump, plan_graph
from mbmicro.codegen.stack import StackNeed
from mbmicro.graph.images import describe_record
from mbmicro.processes import run_child

#: The plots beside report.md (and embedded in report.html): ``build`` draws the arena,
#: ``profile`` the per-layer counts.
ARENA_PLOT, PROFILE_PLOT = "report_arena.png", "report_profile.png"
#: What ``build`` writes of the report (``profile`` rewrites them and adds PROFILE_PLOT).
BUILD_FILES = ("report.json", "report.md", "report.html", ARENA_PLOT)

#: Bytes per line of kernel C when no compiler is available to measure (a rough ARM average).
_EST_BYTES_PER_LINE = 6
_EST_BYTES_PER_CALL = 24


def _size_tool(cc: str) -> str | None:
    """``arm-none-eabi-gcc`` -> ``arm-none-eabi-size``; falls back to plain ``size``."""
    name = re.sub(r"(gcc|clang|cc)(-\d+)?$", "size", Path(cc).name)
    return shutil.which(name) or shutil.which("size")


def code_bytes(folder: Path, program) -> tuple[int, str, StackNeed]:
    """(bytes of .text in the model's objects, how it was obtained, the model's stack need).

    The objects stay in the folder: ``make`` links them later instead of
    compiling the (large) kernels file a second time.  They are compiled with
    gcc's stack-usage flags (they change no code), so the model's worst call
    chain is measured too (mbmicro.codegen.stack); a compiler without them
    compiles the objects again without, and the stack is "not measured".
    """
    objs = [f"{program.prefix}_model.o", f"{program.prefix}_kernels.o"]
    size = _size_tool(program.target.cc)
    if shutil.which(program.target.cc) and size and shutil.which("make"):
        made = run_child(["make", "-s", "objects", f"STACK_FLAGS={stack.STACK_FLAGS}"], cwd=folder, text=True)
        need = stack.measure(folder, objs, program.prefix) if made.returncode == 0 else None
        if made.returncode != 0:
            made = run_child(["make", "-s", "objects"], cwd=folder, text=True)
            need = stack.StackNeed(None, f"not measured: {program.target.cc} does not take {stack.STACK_FLAGS}")
        if made.returncode == 0:
            out = run_child([size, "-A", *objs], cwd=folder, text=True, check=True)
            total = sum(int(m.group(1)) for m in re.finditer(r"^\.text\S*\s+(\d+)", out.stdout, re.M))
            return total, f"measured: {Path(size).name} -A, .text of {' + '.join(objs)}", need
        raise RuntimeError(f"generated C does not compile for {program.target.name}:\n{made.stderr[-4000:]}")
    kernel_lines = sum(len([ln for ln in k.source.splitlines() if ln.strip()])
                       for k in {k.function: k for k in program.kernels}.values())
    estimate = kernel_lines * _EST_BYTES_PER_LINE + len(program.kernels) * _EST_BYTES_PER_CALL
    return estimate, (f"estimated ({program.target.cc} not installed): {_EST_BYTES_PER_LINE} bytes per kernel "
                      f"line + {_EST_BYTES_PER_CALL} per call"), \
        stack.StackNeed(None, f"not measured ({program.target.cc} not installed)")


def make_report(program, build: dict, code: tuple, memory: dict | None = None) -> dict:
    """The report dict; ``code`` is :func:`code_bytes`' result (a StackNeed third, if measured);
    ``memory`` is mbmicro.targets.budgets.requirements() (SRAM/flash needed vs budget)."""
    g, plan = program.graph, program.plan
    region_scratch = {r.start: r.scratch_bytes for r in plan.regions}
    linear = plan_graph(g, LinearPlanner, scratch={s: n - region_scratch.get(s, 0) for s, (_, n) in plan.scratch.items()},
                        io_in_arena=plan.io_in_arena, regions=plan.regions)
    fused_in = {i: r.start for r in plan.regions for i in range(r.start, r.end + 1)}
    layers = report_layers.layer_rows(program, build)
    for row in layers:  # the start index of its fused region (docs/MEMORY.md), or None
        row["fused_region"] = fused_in.get(row["index"])
    return {
        "model": build["model"], "target": build["target"], "prefix": program.prefix,
        "options": build["options"], "preprocess": build.get("preprocess"),
        **({"tuning": build["tuning"]} if build.get("tuning") else {}),
        "weights_bytes": program.weights.total_bytes, "weights_arrays": program.weights.count,
        "code_bytes": code[0], "code_bytes_method": code[1],
        "model_stack": (code[2] if len(code) > 2 else StackNeed(None, "not measured")).as_dict(),
        "program_allowances": {k: int(program.target.extra.get(k, 0)) for k in ("stack_bytes", "heap_bytes")},
        "io_in_arena": program.plan.io_in_arena,
        "memory_mode": getattr(program, "memory", "fast"),
        "fused_regions": [{"start": r.start, "end": r.end, "nodes": r.nodes, "scratch_bytes": r.scratch_bytes,
                           "output_over_input": bool(plan.alias.get(r.output) == plan.alias.get(r.input))}
                          for r in plan.regions],
        "arena_bytes": plan.peak, "arena_lower_bound": plan.lower_bound,
        "arena_ratio": round(plan.ratio, 4), "arena_linear_bytes": linear.peak,
        "arena_unfused_bytes": plan_graph(g, scratch={s: n - region_scratch.get(s, 0) for s, (_, n)
                                                      in plan.scratch.items()}, io_in_arena=plan.io_in_arena).peak,
        "sram_budget_bytes": program.target.sram_bytes, "flash_budget_bytes": program.target.flash_bytes,
        "memory": dict(memory or {}),
        "max_kernel_scratch_bytes": max((k.scratch_bytes for k in program.kernels), default=0),
        "macs": sum(x["macs"] for x in layers), "params": sum(x["params"] for x in layers),
        "layers_count": len(layers), "unique_kernels": len({k.function for k in program.kernels}),
        "layers": layers, "arena_plan": report_layers.arena_plan(plan),
    }


def render_json(report: dict) -> str:
    return json.dumps(report, indent=1) + "\n"


def _share(used: int, budget: int) -> str:
    return f"{100 * used / budget:.1f}%" if budget else "n/a"


def _memory_rows(m: dict, io_in_arena: bool = False) -> list[tuple[str, str]]:
    """SRAM/flash needed (model + runtime reserve) against the budgets the build was checked with."""
    if not m:
        return []
    return [
        ("SRAM needed / available", f"{m['sram_needed_bytes']:,} B / {m['sram_budget_bytes']:,} B "
                                    f"({_share(m['sram_needed_bytes'], m['sram_budget_bytes'])}): arena "
                                    f"{m['arena_bytes']:,}{' (input/output in it)' if io_in_arena else ''} + "
                                    f"input/output {m['io_bytes']:,} + stack/heap/runtime {m['runtime_sram_bytes']:,}"),
        ("flash needed / available", f"{m['flash_needed_bytes']:,} B / {m['flash_budget_bytes']:,} B "
                                     f"({_share(m['flash_needed_bytes'], m['flash_budget_bytes'])}): weights "
                                     f"{m['weights_bytes']:,} + code {m['code_bytes']:,} + "
                                     f"runtime {m['runtime_flash_bytes']:,}"),
    ]


def _stack_rows(r: dict) -> list[tuple[str, str]]:
    """The model's own stack (compiler-measured worst chain), apart from the test program's allowances."""
    s, allow = r.get("model_stack"), r.get("program_allowances") or {}
    if not s:
        return []
    if s["bytes"] is None:
        model = s["method"]
    else:
        chain = " -> ".join(f"`{f}`" for f in s["chain"])
        ext = f"; not counted: {', '.join(s['external'])} (outside the model)" if s["external"] else ""
        model = f"{s['bytes']:,} B ({s['method']}: {chain}{ext})"
    return [("model stack (worst call chain)", model),
            ("test program allowances (target.json)", f"stack {allow.get('stack_bytes', 0):,} B, "
                                                      f"heap {allow.get('heap_bytes', 0):,} B")]


def render_md(report: dict) -> str:
    r = report
    rows = [
        ("arena (static RAM)", f"{r['arena_bytes']:,} B ({_share(r['arena_bytes'], r['sram_budget_bytes'])} of "
                               f"{r['sram_budget_bytes']:,} B SRAM)"),
        ("arena lower bound", f"{r['arena_lower_bound']:,} B (ratio {r['arena_ratio']:.3f})"),
        ("arena, linear planner", f"{r['arena_linear_bytes']:,} B"),
        ("weights (flash)", f"{r['weights_bytes']:,} B in {r['weights_arrays']} arrays"),
        ("code", f"{r['code_bytes']:,} B ({r['code_bytes_method']})"),
        ("weights + code (flash)", f"{_share(r['weights_bytes'] + r['code_bytes'], r['flash_budget_bytes'])} of "
                                   f"{r['flash_budget_bytes']:,} B"),
        *_memory_rows(r.get("memory") or {}, bool(r.get("io_in_arena"))),
        ("largest kernel scratch", f"{r['max_kernel_scratch_bytes']:,} B"),
        *_stack_rows(r),
        ("MACs / params", f"{r['macs']:,} / {r['params']:,}"),
        ("layers / unique kernels", f"{r['layers_count']} / {r['unique_kernels']}"),
        ("fused row regions", f"{len(r.get('fused_regions') or [])} (--memory {r.get('memory_mode', 'fast')}, "
                              f"docs/MEMORY.md); arena unfused {r.get('arena_unfused_bytes', r['arena_bytes']):,} B"),
    ]
    out = [f"# {r['model']} on {r['target']} (prefix `{r['prefix']}`)", "", *provenance.md_lines(r.get("provenance")),
           "Options: " + ", ".join(f"{k}={v}" for k, v in r["options"].items()), "",
           *([f"Preprocessing (image files): {describe_record(r['preprocess'])}", ""] if r.get("preprocess") else []),
           "| quantity | value |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    if r.get("tuning"):
        t = r["tuning"]
        out += ["", f"Knobs from the tuning log ({', '.join(t['logs'])}): {len(t['layers_from_log'])} layers "
                    f"({len(t['kernels_from_log'])} kernels), {t.get('layers_changed', 0)} of them with knobs "
                    f"other than the defaults; {t['layers_default']} layers not in the log use the default knobs. "
                    "The knobs column below shows every layer's."]
    out += ["", "## Plots", ""]
    for name, caption in plot_names(r).items():
        out += [f"![{caption}]({name})", ""]
    out += report_layers.layers_md(r)
    out += ["", "## Arena plan", "",
            "One row per layer, arena offset 0 on the left to the peak on the right; each letter is a buffer "
            "live at that layer, `*` kernel scratch.", "", "```",
            dump(report_layers.plan_of(r), r["layers_count"]), "```", ""]
    return "\n".join(out)


def plot_names(report: dict) -> dict[str, str]:
    """The plot files of ``report`` (name -> caption): the arena always, the counts once profiled."""
    names = {ARENA_PLOT: "the arena over time: which buffer holds which bytes at each step"}
    if report.get("profile"):
        names[PROFILE_PLOT] = "the counts of mbmicro profile per layer, coloured by op"
    return names


def render_files(report: dict) -> dict[str, bytes]:
    """Every report file of a build folder (name -> contents), from ``report`` alone:
    report.json, report.md, report.html and the plots it embeds."""
    plots = {ARENA_PLOT: report_plots.arena_png(report)}
    if report.get("profile"):
        plots[PROFILE_PLOT] = report_plots.profile_png(report)
    md = render_md(report)
    return {"report.json": render_json(report).encode(), "report.md": md.encode(),
            "report.html": report_html.render_html(report, md, plots).encode(), **plots}


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write :func:`render_files`' result into ``folder``, each file whole or not at all
    (a new temporary file renamed over the old one: a symlink left in the folder is
    replaced, never followed)."""
    for name, data in files.items():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")  # a new file: no symlink followed
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, folder / name)
        finally:
            Path(tmp).unlink(missing_ok=True)
