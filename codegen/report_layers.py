"""The per-layer part of the report: what each layer costs, and what it ran once profiled.

Why apart from report.py: the totals (flash, SRAM, stack against the budgets)
and the layers change for different reasons; this module owns the layer rows
of report.json and their table in report.md, and the arena plan they come
from, stored in report.json so that ``mbmicro profile`` can redraw the report
(plots, ASCII plan) from the folder alone, without the lowered program.

Per layer: op, input and output shapes, MACs, the flash its constant arrays
add (``weight_bytes``: arrays an earlier layer already stored, a shared LUT or
multiplier vector, are ``weight_bytes_shared``, so the column sums to the
model's weights), the arena bytes live while it runs (every buffer live at
that step plus its scratch: the column's maximum is the arena's lower bound),
the kernel and knobs, and, after ``mbmicro profile``, instructions and
estimated cycles (QEMU) or measured cycles (``--on-device``).
"""

from __future__ import annotations

from collections.abc import Callable

from mbmicro.codegen.planner import MemoryPlan, align
from mbmicro.graph.ir import macs, param_count


def _plain(value):
    """JSON-ready copy of knob values (numpy scalars become Python numbers; keys sorted)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def live_bytes(plan: MemoryPlan, step: int) -> int:
    """Arena bytes in use at ``step``: the 16-aligned buffers live then, and its scratch."""
    scratch = plan.scratch.get(step, (0, 0))[1]
    return sum(align(plan.sizes[r]) for r in plan.live_at(step)) + align(scratch)


def _weight_bytes(program, kernel, stored: set[str]) -> tuple[int, int]:
    """(bytes of the arrays this call stores first, bytes of those an earlier call stored)."""
    own = shared = 0
    for arg in kernel.args:
        if arg.kind != "const":
            continue
        symbol = program.weights.symbol_for(arg.value)
        if symbol in stored:
            shared += program.weights.nbytes(symbol)
        else:
            stored.add(symbol)
            own += program.weights.nbytes(symbol)
    return own, shared


def layer_rows(program, build: dict) -> list[dict]:
    """report.json's ``layers``: one dict per node, in execution order."""
    g, plan = program.graph, program.plan
    tuned = set((build.get("tuning") or {}).get("layers_from_log", ()))
    tuned_rows = set((build.get("tuning") or {}).get("layers_from_log_fused", ()))
    fused_in_log = set((build.get("tuning") or {}).get("layers_fused", ()))
    stored: set[str] = set()
    rows = []
    for i, (node, k) in enumerate(zip(g.nodes, program.kernels)):
        own, shared = _weight_bytes(program, k, stored)
        rows.append({
            "index": i, "name": node.name, "op": node.op,
            "input_shapes": [list(g.tensors[t].shape) for t in node.inputs],
            "output_shape": list(g.tensors[node.outputs[0]].shape),
            "macs": macs(g, node), "params": param_count(node),
            "weight_bytes": own, "weight_bytes_shared": shared,
            "arena_live_bytes": live_bytes(plan, i),
            "kernel": f"{program.prefix}_{k.function}", "knobs": _plain(k.knobs),
            **({"knobs_from": _knobs_from(node.name, tuned, tuned_rows, fused_in_log)} if build.get("tuning") else {}),
            "scratch_bytes": int(k.scratch_bytes),
            "output_offset": plan.offsets.get(node.outputs[0]),
        })
    return rows


def arena_plan(plan: MemoryPlan) -> dict:
    """report.json's ``arena_plan``: every arena buffer (named by its first tensor; ``tensors``:
    all that share it, written in place) with its bytes and lifetime, and the per-step scratch
    (fused rings included): what the arena plot draws."""
    held: dict[str, list[str]] = {}
    for t, r in plan.alias.items():  # in the order the steps write them
        held.setdefault(r, []).append(t)
    buffers = [{"tensor": r, "tensors": held.get(r, [r]), "offset": plan.offsets[r], "bytes": plan.sizes[r],
                "first": plan.lifetimes[r][0], "last": plan.lifetimes[r][1]}
               for r in sorted(plan.lifetimes, key=lambda r: (plan.lifetimes[r][0], r))]
    scratch = [{"step": s, "offset": off, "bytes": n} for s, (off, n) in sorted(plan.scratch.items())]
    return {"peak": plan.peak, "buffers": buffers, "scratch": scratch}


def plan_of(report: dict) -> MemoryPlan:
    """The arena plan back from report.json (buffer roots only: enough to draw it)."""
    a = report["arena_plan"]
    return MemoryPlan(
        offsets={b["tensor"]: b["offset"] for b in a["buffers"]},
        sizes={b["tensor"]: b["bytes"] for b in a["buffers"]},
        lifetimes={b["tensor"]: (b["first"], b["last"]) for b in a["buffers"]},
        alias={b["tensor"]: b["tensor"] for b in a["buffers"]},
        scratch={s["step"]: (s["offset"], s["bytes"]) for s in a["scratch"]},
        peak=a["peak"], lower_bound=report["arena_lower_bound"], io_in_arena=bool(report.get("io_in_arena")))


#: Per-layer counts a profile adds: in QEMU instructions (and estimated cycles), on a board
#: measured cycles (``profile --on-device``).
COUNTS = ("instructions", "instructions_per_mac", "estimated_cycles", "cycles", "cycles_per_mac")


def profiled_steps(layers: list) -> list:
    """The report's layers as the profiling run marks them: a fused region (docs/MEMORY.md) is
    one marked step, named after its layers, with their MACs summed; ``last_index`` is the
    position in ``layers`` of the step's last layer (where the region's hooks end)."""
    steps, by_region = [], {}
    for i, layer in enumerate(layers):
        region = layer.get("fused_region")
        if region is None:
            steps.append({**layer, "last_index": i})
        elif region in by_region:
            step = by_region[region]
            step["name"] = f"{step['name'].split(' .. ')[0]} .. {layer['name']}"
            step["macs"] += layer["macs"]
            step["last_index"] = i
        else:
            by_region[region] = {**layer, "name": f"[fused] {layer['name']}", "last_index": i}
            steps.append(by_region[region])
    return steps


def with_profile(report: dict, result: dict) -> dict:
    """``report`` with the counts of ``mbmicro profile`` (commands/profile.py's result, QEMU or
    on a device) per layer, and a ``profile`` summary; a later profile replaces an earlier one.

    The profile has one row per :func:`profiled_steps` step: a fused region's counts go to
    its last layer, and its other layers carry None (they have no hooks of their own)."""
    steps = profiled_steps(report["layers"])
    if [r["name"] for r in result["layers"]] != [x["name"] for x in steps]:
        raise ValueError("the profile's layers are not the report's")
    counts_of = {}  # report layer index -> the counts it shows
    for step, r in zip(steps, result["layers"]):
        counts_of[step["last_index"]] = {k: r[k] for k in COUNTS if k in r}
    keys = [k for k in COUNTS if any(k in r for r in result["layers"])]
    layers = [{**{k: v for k, v in x.items() if k not in COUNTS},
               **counts_of.get(i, {k: None for k in keys})}
              for i, x in enumerate(report["layers"])]
    summary = {"target": result["target"], "input": "all zeros", "total": result["total"],
               **{k: result[k] for k in ("exe", "port", "program_instructions", "run_cycles", "cycles_table")
                  if k in result}}
    return {**report, "layers": layers, "profile": summary}


def _shape(shape: list[int]) -> str:
    return "x".join(map(str, shape))


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _count(key: str, ratio: str | None = None) -> Callable[[dict], str]:
    """The cell of count ``key`` (or of its per-MAC ``ratio``): a count of None is a fused
    region's inner layer, whose cost is on the region's last layer."""
    def cell(x: dict) -> str:
        if x.get(key) is None:
            return "(fused: below)"
        return _ratio(x.get(ratio)) if ratio else f"{x[key]:,}"
    return cell


def _count_columns(total: dict) -> list[tuple[str, Callable[[dict], str]]]:
    """(header, cell of a layer) of the counts a profile left, in COUNTS order."""
    cols = []
    if "instructions" in total:
        cols += [("instructions", _count("instructions")),
                 ("instr/MAC", _count("instructions", "instructions_per_mac"))]
    if "estimated_cycles" in total:
        cols.append(("est. cycles*", _count("estimated_cycles")))
    if "cycles" in total:
        cols += [("cycles (device)", _count("cycles")), ("cycles/MAC", _count("cycles", "cycles_per_mac"))]
    return cols


def _profile_notes(p: dict) -> list[str]:
    t, out = p["total"], [""]
    if "instructions" in t:
        out.append(f"Instructions: executed in QEMU by `{p['exe']}` on an all-zero input (`mbmicro profile`); "
                   f"whole program {p['program_instructions']:,}, layers {t['instructions']:,}.")
    if "estimated_cycles" in t:
        out.append(f"* est. cycles: an ESTIMATE, not a measurement (QEMU has no timing model): each layer's "
                   f"instruction mix times the cycles per class in {p['cycles_table']}; "
                   f"total {t['estimated_cycles']:,}.")
    if "cycles" in t:
        out.append(f"Cycles (device): measured on the board on {p['port']} with the DWT cycle counter on an "
                   f"all-zero input (`mbmicro profile --on-device`); layers {t['cycles']:,}, whole run "
                   f"{p['run_cycles']:,}.")
    return out


def layers_md(report: dict) -> list[str]:
    """The ``## Layers`` section of report.md (one table row per layer)."""
    profile = report.get("profile")
    counts = _count_columns(profile["total"]) if profile else []
    head = ["#", "name", "op", "input", "output", "MACs", "weights (flash) B", "arena live (RAM) B",
            "kernel", "knobs", "output offset", *(h for h, _ in counts)]
    out = ["## Layers", "",
           "Weights: the bytes of constant arrays the layer adds to flash (+ arrays it shares with an "
           "earlier layer). Arena live: the arena bytes in use while the layer runs (its inputs, output and "
           "every buffer kept for later, 16-byte aligned, plus scratch).", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for x in report["layers"]:
        offset = "caller" if x["output_offset"] is None else x["output_offset"]
        knobs = ", ".join(f"{k}={v}" for k, v in x["knobs"].items()) or "-"
        weights = f"{x['weight_bytes']:,}" + (f" (+{x['weight_bytes_shared']:,})" if x["weight_bytes_shared"] else "")
        cells = [x["index"], x["name"], x["op"], ", ".join(_shape(s) for s in x["input_shapes"]),
                 _shape(x["output_shape"]), f"{x['macs']:,}", weights, f"{x['arena_live_bytes']:,}",
                 f"`{x['kernel']}`", knobs, offset, *(cell(x) for _, cell in counts)]
        out.append("| " + " | ".join(map(str, cells)) + " |")
    return out + (_profile_notes(profile) if profile else [])


def _knobs_from(name: str, tuned: set[str], tuned_rows: set[str], fused_in_log: set[str]) -> str:
    """Where a layer's knobs came from: a fused layer whose row kernel is in the log says so; one
    whose whole-tensor kernel only is says why it has the defaults."""
    if name in tuned:
        return "tuning log"
    if name in tuned_rows:
        return "tuning log (fused row kernel)"
    return "default (fused row kernel)" if name in fused_in_log else "default"
