"""report.json, report.md and report.html of a build: what the model costs on the target.

Why three: report.json is for scripts (benchmarks, CI checks on arena growth),
report.md is for people, report.html is report.md with its plots embedded
(codegen/report_html.py; the plots: codegen/report_plots.py; the per-layer
rows: codegen/report_layers.py). All of them are drawn from the report dict
alone, so ``mbmicro profile`` redraws them with the per-layer counts.
Every number says where it comes from (docs/REPORT.md): the model's flash and
static SRAM are the ELF sections of its compiled objects
(codegen/model_memory.py), its stack the compiler's worst call chain and, once
``mbmicro profile`` ran, the high-water mark painted in QEMU; without the cross
compiler they are "not measured", never estimated.  The test program's
allowances (target.json) are listed apart.  Build time is in none of the files
(the build command prints it): two identical builds give byte-identical
reports, plots included.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from mbmicro.codegen import provenance, report_html, report_layers, report_plots
from mbmicro.codegen.model_memory import ModelObjects
from mbmicro.codegen.planner import LinearPlanner, dump, plan_graph
from mbmicro.graph.images import describe_record
from mbmicro.targets import budgets

#: The plots beside report.md (and embedded in report.html): ``build`` draws the arena,
#: ``profile`` the per-layer counts.
ARENA_PLOT, PROFILE_PLOT = "report_arena.png", "report_profile.png"
#: What ``build`` writes of the report (``profile`` rewrites them and adds PROFILE_PLOT).
BUILD_FILES = ("report.json", "report.md", "report.html", ARENA_PLOT)

def model_section(objects: ModelObjects, memory: dict, io_in_arena: bool) -> dict:
    """report.json's ``model``: the model's own SRAM and flash, each with its parts (docs/REPORT.md).

    ``memory`` is budgets.requirements() of the build.  ``sram_peak_bytes`` = arena +
    input/output (outside the arena) + stack (the larger of the compiler's bound and the
    painted mark, :func:`with_painted_stack`) + static data; None while a part is unknown.
    """
    m = memory
    sram = {"arena_bytes": m["arena_bytes"], "arena_static": objects.static_arena > 0,
            "io_bytes": m["io_bytes"], "io_in_arena": io_in_arena,
            "static_bytes": objects.static_ram, "stack_compiler_bytes": objects.stack.bytes,
            "stack_painted_bytes": None, "stack_painted_window_bytes": None, "stack_painted_floor_bytes": None}
    flash = {"weights_bytes": objects.weights, "code_bytes": objects.code, "constants_bytes": objects.constants}
    return _with_totals({"measured": objects.measured, "method": objects.method, "sram": sram, "flash": flash,
                         "sram_budget_bytes": m["sram_budget_bytes"], "flash_budget_bytes": m["flash_budget_bytes"]})


def _with_totals(model: dict) -> dict:
    """``model`` with its stack, SRAM peak and flash totals (re)computed from the parts.

    The stack is the larger of the compiler's bound and the painted mark; a painted mark at
    the painting's floor (nothing painted was touched: "at most floor") only counts when
    there is no compiler bound.
    """
    s, f = model["sram"], model["flash"]
    compiler, painted = s["stack_compiler_bytes"], s["stack_painted_bytes"]
    if painted is not None and compiler is not None and painted <= (s.get("stack_painted_floor_bytes") or 0):
        painted = None
    stacks = [b for b in (compiler, painted) if b is not None]
    s["stack_bytes"] = max(stacks) if stacks else None
    parts = (s["arena_bytes"], s["io_bytes"], s["stack_bytes"], s["static_bytes"])
    flash = (f["weights_bytes"], f["code_bytes"], f["constants_bytes"])
    return {**model, "sram_peak_bytes": None if None in parts else sum(parts),
            "flash_bytes": None if None in flash else sum(flash)}


def test_program_section(target, memory: dict) -> dict:
    """report.json's ``test_program``: what the program around the model reserves (target.json)
    and the totals its linker script must hold (the fit check's figures)."""
    return {**budgets.reserve(target), "method": f"allowances of targets/{target.name}/target.json",
            **{k: memory[k] for k in ("sram_needed_bytes", "sram_budget_bytes", "flash_needed_bytes",
                                      "flash_budget_bytes")}}


def make_report(program, build: dict, objects: ModelObjects, memory: dict) -> dict:
    """The report dict; ``objects`` is codegen.model_memory.measure()'s result, ``memory``
    mbmicro.targets.budgets.requirements() of it (SRAM/flash needed vs budget)."""
    g, plan = program.graph, program.plan
    region_scratch = {r.start: r.scratch_bytes for r in plan.regions}
    linear = plan_graph(g, LinearPlanner, scratch={s: n - region_scratch.get(s, 0) for s, (_, n) in plan.scratch.items()},
                        io_in_arena=plan.io_in_arena, regions=plan.regions)
    fused_in = {i: r.start for r in plan.regions for i in range(r.start, r.end + 1)}
    layers = report_layers.layer_rows(program, build)
    for row in layers:  # the start index of its fused region (docs/MEMORY.md), or None
        row["fused_region"] = fused_in.get(row["index"])
    return {
        "model_name": build["model"], "target": build["target"], "prefix": program.prefix,
        "options": build["options"], "preprocess": build.get("preprocess"),
        **({"tuning": build["tuning"]} if build.get("tuning") else {}),
        "weights_bytes": program.weights.total_bytes, "weights_arrays": program.weights.count,
        "code_bytes": objects.code, "code_bytes_method": objects.method,
        "model_stack": objects.stack.as_dict(),
        "model": model_section(objects, memory, program.plan.io_in_arena),
        "test_program": test_program_section(program.target, memory),
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
        "memory": dict(memory),
        "max_kernel_scratch_bytes": max((k.scratch_bytes for k in program.kernels), default=0),
        "macs": sum(x["macs"] for x in layers), "params": sum(x["params"] for x in layers),
        "layers_count": len(layers), "unique_kernels": len({k.function for k in program.kernels}),
        "layers": layers, "arena_plan": report_layers.arena_plan(plan),
    }


def render_json(report: dict) -> str:
    return json.dumps(report, indent=1) + "\n"


def _share(used: int, budget: int) -> str:
    return f"{100 * used / budget:.1f}%" if budget else "n/a"


def code_summary(report: dict) -> str:
    """The code size for a one-line summary, or why it is missing (then the fit check left it out)."""
    return f"{report['code_bytes']:,} B" if report["code_bytes"] is not None else report["code_bytes_method"]


def _bytes(n: int | None, why: str = "not measured") -> str:
    return why if n is None else f"{n:,}"


def _stack_text(sram: dict) -> str:
    painted = sram["stack_painted_bytes"]
    if painted is None:
        seen = "painted: not yet measured (`mbmicro profile`)"
    elif painted >= sram["stack_painted_window_bytes"]:
        seen = f"painted at least {painted:,}"
    elif painted <= (sram.get("stack_painted_floor_bytes") or 0):
        seen = f"painted at most {painted:,}"
    else:
        seen = f"painted {painted:,}"
    return f"stack {_bytes(sram['stack_bytes'])} (compiler {_bytes(sram['stack_compiler_bytes'])}, {seen})"


def _memory_rows(r: dict) -> list[tuple[str, str]]:
    """The model's own SRAM and flash against the budgets, then the test program's (apart)."""
    model, m, prog = r.get("model"), r.get("memory"), r.get("test_program")
    if not isinstance(model, dict) or not m or not prog:
        return []
    s, f = model["sram"], model["flash"]
    io = "input/output in the arena" if s["io_in_arena"] else f"input/output {s['io_bytes']:,}"
    if model["sram_peak_bytes"] is None:
        sram = f"at least {s['arena_bytes'] + s['io_bytes']:,} B ({model['method']})"
    else:
        sram = (f"{model['sram_peak_bytes']:,} B / {model['sram_budget_bytes']:,} B "
                f"({_share(model['sram_peak_bytes'], model['sram_budget_bytes'])})")
    sram += (f": arena {s['arena_bytes']:,}{' (static)' if s['arena_static'] else ''} + {io} + "
             f"{_stack_text(s)} + static data {_bytes(s['static_bytes'])}")
    if model["flash_bytes"] is None:
        flash = f"at least {f['weights_bytes'] or m['weights_bytes']:,} B (weights only; code {model['method']})"
    else:
        flash = (f"{model['flash_bytes']:,} B / {model['flash_budget_bytes']:,} B "
                 f"({_share(model['flash_bytes'], model['flash_budget_bytes'])}): weights {f['weights_bytes']:,} + "
                 f"code {f['code_bytes']:,} + constants {f['constants_bytes']:,}")
    least = "" if m["measured"] else "at least "
    return [
        ("model SRAM (peak)", sram),
        ("model flash", flash),
        ("test program SRAM needed / available",
         f"{least}{m['sram_needed_bytes']:,} B / {m['sram_budget_bytes']:,} B "
         f"({_share(m['sram_needed_bytes'], m['sram_budget_bytes'])}): the model without its stack "
         f"{m['sram_needed_bytes'] - m['runtime_sram_bytes']:,} + stack {prog['stack_bytes']:,} + heap "
         f"{prog['heap_bytes']:,} + runtime {prog['runtime_sram_bytes']:,} ({prog['method']})"),
        ("test program flash needed / available",
         f"{least}{m['flash_needed_bytes']:,} B / {m['flash_budget_bytes']:,} B "
         f"({_share(m['flash_needed_bytes'], m['flash_budget_bytes'])}): the model "
         f"{m['model_flash_bytes']:,} + runtime {prog['runtime_flash_bytes']:,} ({prog['method']})"),
    ]


def _stack_rows(r: dict) -> list[tuple[str, str]]:
    """The model's own stack (compiler-measured worst chain), apart from the test program's allowances."""
    s, prog = r.get("model_stack"), r.get("test_program") or {}
    if not s:
        return []
    if s["bytes"] is None:
        model = s["method"]
    else:
        chain = " -> ".join(f"`{f}`" for f in s["chain"])
        ext = f"; not counted: {', '.join(s['external'])} (outside the model)" if s["external"] else ""
        model = f"{s['bytes']:,} B ({s['method']}: {chain}{ext})"
    return [("model stack (worst call chain)", model),
            ("test program allowances (target.json)", f"stack {prog.get('stack_bytes', 0):,} B, "
                                                      f"heap {prog.get('heap_bytes', 0):,} B")]


def render_md(report: dict) -> str:
    r = report
    rows = [
        ("arena (static RAM)", f"{r['arena_bytes']:,} B ({_share(r['arena_bytes'], r['sram_budget_bytes'])} of "
                               f"{r['sram_budget_bytes']:,} B SRAM)"),
        ("arena lower bound", f"{r['arena_lower_bound']:,} B (ratio {r['arena_ratio']:.3f})"),
        ("arena, linear planner", f"{r['arena_linear_bytes']:,} B"),
        ("weights (flash)", f"{r['weights_bytes']:,} B in {r['weights_arrays']} arrays"),
        ("code", f"{_bytes(r['code_bytes'])} B ({r['code_bytes_method']})" if r["code_bytes"] is not None
         else r["code_bytes_method"]),
        *_memory_rows(r),
        ("largest kernel scratch", f"{r['max_kernel_scratch_bytes']:,} B"),
        *_stack_rows(r),
        ("MACs / params", f"{r['macs']:,} / {r['params']:,}"),
        ("layers / unique kernels", f"{r['layers_count']} / {r['unique_kernels']}"),
        ("fused row regions", f"{len(r.get('fused_regions') or [])} (--memory {r.get('memory_mode', 'fast')}, "
                              f"docs/MEMORY.md); arena unfused {r.get('arena_unfused_bytes', r['arena_bytes']):,} B"),
    ]
    out = [f"# {r['model_name']} on {r['target']} (prefix `{r['prefix']}`)", "", *provenance.md_lines(r.get("provenance")),
           "Options: " + ", ".join(f"{k}={v}" for k, v in r["options"].items()), "",
           *([f"Preprocessing (image files): {describe_record(r['preprocess'])}", ""] if r.get("preprocess") else []),
           "| quantity | value |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    if r.get("tuning"):
        t = r["tuning"]
        row_kernels = len(t.get("layers_from_log_fused", ()))
        out += ["", f"Knobs from the tuning log ({', '.join(t['logs'])}): {len(t['layers_from_log'])} layers "
                    + (f"and {row_kernels} fused layers' row kernels " if row_kernels else "")
                    + f"({len(t['kernels_from_log'])} kernels), {t.get('layers_changed', 0)} of them with knobs "
                    f"other than the defaults; {t['layers_default']} layers not in the log use the default knobs"
                    + (f", and {len(t['layers_fused'])} layers in the log run fused as row kernels, with the row "
                       "kernel's defaults" if t.get("layers_fused") else "") + ". "
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


def with_painted_stack(report: dict, used: int, window: int, floor: int = 0) -> dict:
    """``report`` with the stack high-water mark painted in QEMU (``mbmicro profile``) in its
    ``model`` section, beside the compiler's bound; ``sram_peak_bytes`` takes the larger.

    Why in the report: the painted mark is the measured half of the model's stack and can
    only come from a run.  ``window``/``floor``: the painted window's bottom and top as bytes
    below the stack pointer at the model call (mbmicro.sim.painted_stack).  A report without
    a ``model`` section (an older mbmicro's) comes back unchanged.
    """
    model = report.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("sram"), dict):
        return report
    sram = dict(model["sram"], stack_painted_bytes=int(used), stack_painted_window_bytes=int(window),
                stack_painted_floor_bytes=int(floor))
    return {**report, "model": _with_totals({**model, "sram": sram})}


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
