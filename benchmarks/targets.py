"""All 11 models on the four ARM cores in QEMU; writes results/targets.md and results/targets.json.

Per model x core: built with ``mbmicro build`` (the same code path), verified bit-exact
against the NumPy int8 reference on one seeded input, and profiled (executed instructions
per layer, QEMU plugin, all-zero input).  Reported: verified, total instructions,
instructions per MAC, arena, flash (weights + code), build time, and for the depthwise
and pointwise layers min / median / max instructions per MAC; targets.json keeps every
layer's numbers.

Config: one per model, the same on every core, chosen to fit the smallest board
(Cortex-M4: 256 KiB SRAM, 1 MiB flash) -- see CONFIGS.

Second table: the four layer shapes of the CMSIS-NN figures in
/work/shared/notes/simulators.md, each built as a one-layer int8 graph with mbmicro's IR,
quantizer and code generator, verified and profiled on M4, M7 and M55.  Those graphs use
a 4 MiB SRAM budget (``--sram``): the harness keeps the whole 221 KB input of the
48x48x96 layer in SRAM, which the 256 KiB M4 budget cannot hold next to the output.

Usage: ``python benchmarks/targets.py [--jobs 2] [--models a,b] [--cores c,d]``.
Each finished job is cached in out/bench-targets/ (delete it to re-measure everything).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from mbmicro.models.specs import MODEL_NAMES
from mbmicro import progress

HERE = Path(__file__).resolve().parent
RESULT_MD = HERE / "results" / "targets.md"
RESULT_JSON = HERE / "results" / "targets.json"
CACHE = HERE.parent / "out" / "bench-targets"
CORES = ["cortex-m4", "cortex-m7", "cortex-m55", "cortex-a53"]
M_CORES = CORES[:3]
#: (width, resolution, classes) per model: 0.35 / 96 px / 10 classes fits the M4, except
#: where the fixed-width head and classifier push weights + code past 1 MiB of flash
CONFIGS = {m: (0.35, 96, 10) for m in MODEL_NAMES}
# ReXNet at 0.35 scales its channels as timm does (docs/MODELS.md): 276 KB of arena at 96 px, over the M4's SRAM
CONFIGS.update({"mobilenetv3-large": (0.25, 96, 10), "mixnet-m": (0.25, 96, 10), "rexnet": (0.35, 80, 10)})
#: CMSIS-NN v7 executed instructions per MAC (simulators.md), M4 / M7 / M55
CMSIS = {
    "depthwise 3x3 s1, 24x24x96, pad 1": ("depthwise", 24, 96, 96, 1, (8.64, 8.50, 2.17)),
    "depthwise 3x3 s2, 48x48x96 -> 24x24x96": ("depthwise", 48, 96, 96, 2, (8.74, 8.58, 2.17)),
    "pointwise 24x24x96 -> 24x24x24": ("pointwise", 24, 96, 24, 1, (1.85, 1.82, 0.32)),
    "pointwise 12x12x32 -> 12x12x192": ("pointwise", 12, 32, 192, 1, (2.72, 2.68, 0.61)),
}
LAYER_SRAM = 4 << 20


def layer_kind(node) -> str | None:
    """'depthwise', 'pointwise' (1x1 ungrouped conv) or None."""
    if node.op == "depthwise":
        return "depthwise"
    if node.op == "conv2d" and tuple(node.attrs.get("kernel", ())) == (1, 1) and node.attrs.get("groups", 1) == 1:
        return "pointwise"
    return None


def region_kinds(graph, names: list[str]) -> list[str]:
    """What the fused region of layers ``names`` contains, in the words of issue 12's check:
    'in-place dw' (a depthwise written over its own input), 'mixed-kernel' (MixNet's sliced
    depthwise groups), 'grouped 1x1', 'partial add' (ReXNet: the residual has fewer channels),
    'stride 2', 'SE-block chain' (the region's output is an SE block's pooled and gated tensor).

    Why from the graph and not the region's name: benchmarks/fused_modes.py reports which of
    these shapes were really fused and verified on each model and core."""
    by_name = {n.name: n for n in graph.nodes}
    nodes = [by_name[n] for n in names]
    readers = graph.consumers().get(nodes[-1].outputs[0], []) if nodes else []
    channels = {t: graph.tensors[t].shape[-1] for n in nodes for t in [*n.inputs, *n.outputs]}
    found = {
        "in-place dw": len(nodes) == 1 and nodes[0].op == "depthwise",
        "mixed-kernel": any(n.op == "slice" for n in nodes),
        "grouped 1x1": any(n.op == "conv2d" and int(n.attrs.get("groups", 1)) > 1 for n in nodes),
        "partial add": any(n.op == "add" and len({channels[t] for t in n.inputs}) > 1 for n in nodes),
        "stride 2": any(int(n.attrs.get("stride", 1)) == 2 for n in nodes),
        "SE-block chain": {"global_avg_pool", "mul"} <= {r.op for r in readers},
    }
    return [kind for kind, yes in found.items() if yes]


def measure(graph, target, folder: Path, name: str, options: dict, memory: str | None = None,
            retry_memory: str | None = "min") -> dict:
    """Build ``graph`` into ``folder`` with ``--memory memory`` (None: build's default), verify
    it on one seeded input, profile it.  ``retry_memory``: the mode a build over the SRAM budget
    is lowered again with (None: refuse it, a UserError)."""
    from mbmicro.cli import main as cli_main
    from mbmicro.codegen.project import build_project
    from mbmicro.commands.profile import profile
    from mbmicro.graph.fusion import DEFAULT_MEMORY_MODE

    started = time.perf_counter()
    # build's default --memory (balanced, retried with min when over the SRAM budget), as
    # mbmicro.commands.build passes it: build_project's own default is fast (no fused regions);
    # --memory min puts the input and output in the arena (commands.build.memory_io_in_arena)
    memory = memory or DEFAULT_MEMORY_MODE
    rep = build_project(graph, target, folder, prefix="m", force=True,
                        info={"model": name, "options": options}, started=started,
                        memory=memory, retry_memory=retry_memory, io_in_arena=memory == "min")
    memory_mode = json.loads((folder / "build.json").read_text())["memory"]
    with contextlib.redirect_stdout(io.StringIO()) as said:
        verified = cli_main(["verify", str(folder), "--count", "1"]) == 0
    prof = profile(folder)
    kinds = {n.name: layer_kind(n) for n in graph.nodes}
    layers = [dict(row, kind=kinds.get(row["name"])) for row in prof["layers"]]
    return {"verified": verified, "verify_output": said.getvalue().strip(),
            "instructions": prof["total"]["instructions"], "macs": prof["total"]["macs"],
            "estimated_cycles": prof["total"].get("estimated_cycles"),
            "instructions_per_mac": prof["total"]["instructions_per_mac"],
            "arena_bytes": rep["arena_bytes"], "weights_bytes": rep["weights_bytes"],
            "code_bytes": rep["code_bytes"], "memory": rep["memory"], "memory_mode": memory_mode,
            "io_in_arena": rep["io_in_arena"], "build_time_s": rep["build_time_s"], "layers": layers,
            "fused_regions": [dict(r, kinds=region_kinds(graph, r["nodes"])) for r in rep["fused_regions"]]}


def model_job(model: str, core: str, memory: str | None = None, config: tuple | None = None,
              cache: Path | None = CACHE) -> dict:
    """One model x core measured (:func:`measure`), cached as JSON in ``cache`` (None: not cached).

    ``memory``: None is build's default (balanced, retried with min to fit, this script's
    table); a mode given (benchmarks/fused_modes.py) is built as asked, never retried, so a
    model it does not fit is an error row.  ``config``: (width, resolution, classes) instead
    of CONFIGS[model] (the tests' tiny builds)."""
    from mbmicro.errors import UserError
    from mbmicro.pipeline import make_model
    from mbmicro.targets.target import load_target

    cached = None if cache is None else cache / (f"{model}@{core}" + (f"@{memory}" if memory else "") + ".json")
    if cached is not None and cached.exists():
        return json.loads(cached.read_text())
    width, res, classes = config or CONFIGS[model]
    started = time.perf_counter()
    _, graph = make_model(model, width, res, classes, 0)
    options = {"width": width, "resolution": res, "classes": classes, "seed": 0}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        try:
            result = measure(graph, load_target(core), Path(tmp) / "b", model, options, memory,
                             retry_memory=None if memory else "min")
        except UserError as exc:  # e.g. does not fit the board
            result = {"error": str(exc)}
    for layer in result.get("layers", []):
        layer.pop("mix", None)  # per-layer class counts: 11 x 4 x ~60 of them would swamp targets.json
    result.update(model=model, core=core, config=[width, res, classes],
                  job_time_s=round(time.perf_counter() - started, 1))
    if cached is not None:
        cache.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(result, indent=1))
    return result


def layer_graph(kind: str, size: int, c_in: int, c_out: int, stride: int, kernel: int = 3):
    """A one-layer int8 graph (random He weights, quantized with seeded random calibration).

    ``kernel``: the depthwise kernel size (pointwise layers are 1x1); benchmarks/cmsis_nn.py
    measures 3x3, 5x5 and 7x7.  ``kind`` "stem": an ungrouped ``kernel`` x ``kernel`` conv2d with
    SAME padding and ReLU6 (the models' first layer: 3x3 stride 2 on 3 channels)."""
    from mbmicro.graph.ir import Graph, Node, Tensor, conv_out_size, same_padding
    from mbmicro.quant.ptq import quantize_graph

    rng = np.random.default_rng(0)
    out = conv_out_size(size, stride)
    if kind == "depthwise":
        pt, pb = same_padding(size, kernel, stride)
        node = Node("layer", "depthwise", ["x"], ["y"],
                    {"kernel": (kernel, kernel), "stride": stride, "pad": (pt, pt, pb, pb), "act": "relu6"},
                    {"weight": (rng.standard_normal((kernel, kernel, c_in)) * np.sqrt(2 / kernel ** 2))
                     .astype(np.float32),
                     "bias": (0.1 * rng.standard_normal(c_in)).astype(np.float32)})
    elif kind == "stem":
        (pt, pb), fan_in = same_padding(size, kernel, stride), kernel * kernel * c_in
        node = Node("layer", "conv2d", ["x"], ["y"],
                    {"kernel": (kernel, kernel), "stride": stride, "pad": (pt, pt, pb, pb), "groups": 1,
                     "act": "relu6"},
                    {"weight": (rng.standard_normal((c_out, kernel, kernel, c_in)) * np.sqrt(2 / fan_in))
                     .astype(np.float32),
                     "bias": (0.1 * rng.standard_normal(c_out)).astype(np.float32)})
    else:
        node = Node("layer", "conv2d", ["x"], ["y"],
                    {"kernel": (1, 1), "stride": 1, "pad": (0, 0, 0, 0), "groups": 1, "act": "none"},
                    {"weight": (rng.standard_normal((c_out, 1, 1, c_in)) * np.sqrt(2 / c_in)).astype(np.float32),
                     "bias": (0.1 * rng.standard_normal(c_out)).astype(np.float32)})
    tensors = {"x": Tensor("x", (1, size, size, c_in)), "y": Tensor("y", (1, out, out, c_out))}
    return quantize_graph(Graph(f"{kind}-{size}x{c_in}-{c_out}-s{stride}", tensors, [node], ["x"], ["y"]))


def layer_job(label: str, core: str) -> dict:
    from mbmicro.targets.budgets import with_budgets
    from mbmicro.targets.target import load_target

    kind, size, c_in, c_out, stride, _ = CMSIS[label]
    graph = layer_graph(kind, size, c_in, c_out, stride)
    with tempfile.TemporaryDirectory(prefix="bench-layer-") as tmp:
        result = measure(graph, with_budgets(load_target(core), sram=LAYER_SRAM), Path(tmp) / "b", graph.name,
                         {"shape": label})
    result.update(label=label, core=core)
    return result


def _run(args: tuple) -> dict:
    kind, *rest = args
    return model_job(*rest) if kind == "model" else layer_job(*rest)


def _kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB"


def _count(n: int | None) -> str:
    """A count with thousands separators; '-' for results measured before the estimate existed."""
    return "-" if n is None else f"{n:,}"


def _stats(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def _retried(r: dict) -> str:
    """' (min)' after the arena of a build that did not fit with balanced and was retried with min."""
    mode = r.get("memory_mode")
    return f" ({mode})" if mode not in (None, "balanced") else ""


def render(models: list[dict], layers: list[dict], wall_s: float, jobs: int) -> str:
    out = ["## Targets: 11 models x 4 ARM cores in QEMU", "",
           "Written by `benchmarks/targets.py`. Every model is built with `mbmicro build` (its default `--memory "
           "balanced`: fused row regions where cheap; arena '(min)': retried with `--memory min` to fit), run in "
           "QEMU, compared "
           "bit for bit with the NumPy int8 reference on one seeded input (verified), and profiled: executed "
           "instructions (QEMU TCG plugin, all-zero input; instructions, not cycles: QEMU has no timing model). "
           "Est. cycles is an **estimate**, not a measurement: the plugin's instruction mix priced with "
           "`targets/<core>/cycles.json` (cycles per instruction class from the core's technical reference manual, "
           "approximations listed there). "
           "Flash is weights + model code (without the ~36-40 KiB of newlib/harness). Configs (width / resolution / "
           "classes), the same on every core: " + ", ".join(
               f"{m} {w:g}/{r}/{c}" for m, (w, r, c) in CONFIGS.items() if (w, r, c) != (0.35, 96, 10))
           + f", all others 0.35/96/10 (the largest that fit the Cortex-M4's 256 KiB SRAM / 1 MiB flash). "
             f"Wall time {wall_s / 60:.0f} min with {jobs} parallel jobs.", "",
           "| model | core | verified | instructions | est. cycles | MACs | instr/MAC | arena | flash (weights + code) | "
           "build s | depthwise instr/MAC min/med/max | pointwise instr/MAC min/med/max |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in models:
        if "error" in r:
            out.append(f"| {r['model']} | {r['core']} | no: {r['error']} | | | | | | | | | |")
            continue
        dw = [x["instructions_per_mac"] for x in r["layers"] if x["kind"] == "depthwise"]
        pw = [x["instructions_per_mac"] for x in r["layers"] if x["kind"] == "pointwise"]
        out.append(f"| {r['model']} | {r['core']} | {'yes' if r['verified'] else 'NO'} | {r['instructions']:,} | "
                   f"{_count(r.get('estimated_cycles'))} | {r['macs']:,} | {r['instructions_per_mac']:.2f} | {_kib(r['arena_bytes'])}{_retried(r)} | "
                   f"{_kib(r['weights_bytes'] + r['code_bytes'])} ({_kib(r['weights_bytes'])} + "
                   f"{_kib(r['code_bytes'])}) | {r['build_time_s']:.0f} | {_stats(dw)} | {_stats(pw)} |")
    out += ["", "### Per layer type and core (all models)", "",
            "Layers inside a fused row region (`[fused] first .. last` in targets.json, one profile row for "
            "the whole chain) are in neither column, here or in the per-model columns above.", "",
            "| core | depthwise instr/MAC min / median / max | pointwise instr/MAC min / median / max |",
            "|---|---|---|"]
    for core in CORES:
        rows = [x for r in models if r["core"] == core and "error" not in r for x in r["layers"]]
        out.append(f"| {core} | {_stats([x['instructions_per_mac'] for x in rows if x['kind'] == 'depthwise'])} | "
                   f"{_stats([x['instructions_per_mac'] for x in rows if x['kind'] == 'pointwise'])} |")
    out += ["", "### Against CMSIS-NN on the same layer shapes", "",
            "CMSIS-NN v7 figures from the shared simulator notes (GCC 12.2 -Ofast); ours: one-layer int8 graphs of "
            "the same shapes built by mbmicro, verified bit-exact, executed instructions per MAC of the layer. "
            "CMSIS-NN measured here, on 21 shapes of the 11 models, is the section 'Against CMSIS-NN, layer by "
            "layer' (benchmarks/cmsis_nn.py).", "",
            "| layer | core | CMSIS-NN instr/MAC | mbmicro instr/MAC | verified | ratio (mbmicro / CMSIS-NN) | "
            "mbmicro est. cycles/MAC |",
            "|---|---|---|---|---|---|---|"]
    for r in layers:
        ref = CMSIS[r["label"]][5][M_CORES.index(r["core"])]
        layer = r["layers"][0]
        ours = layer["instructions_per_mac"]
        est = layer.get("estimated_cycles")
        est_per_mac = "-" if est is None else f"{est / layer['macs']:.2f}"
        out.append(f"| {r['label']} | {r['core']} | {ref:.2f} | {ours:.2f} | {'yes' if r['verified'] else 'NO'} | "
                   f"{ours / ref:.2f} | {est_per_mac} |")
    out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--models", default=",".join(MODEL_NAMES))
    p.add_argument("--cores", default=",".join(CORES))
    args = p.parse_args(argv)
    started = time.perf_counter()
    models, cores = args.models.split(","), args.cores.split(",")
    work = [("layer", label, core) for label in CMSIS for core in M_CORES if core in cores]
    work += [("model", m, c) for m in models for c in cores]
    with ProcessPoolExecutor(max_workers=args.jobs, initializer=progress.set_quiet, initargs=(True,)) as pool:
        results = []
        for args_, r in progress.track(zip(work, pool.map(_run, work)), total=len(work), desc="benchmarks",
                                       unit="build"):
            results.append(r)
            what = r.get("model") or r.get("label")
            status = r.get("error") or f"verified={r['verified']} instr/MAC={r['instructions_per_mac']:.2f}"
            print(f"{args_[0]} {what} {r['core']}: {status}", flush=True)
    layer_results = [r for r in results if "label" in r]
    model_results = [r for r in results if "model" in r and "label" not in r]
    wall = time.perf_counter() - started
    RESULT_JSON.write_text(json.dumps({"configs": CONFIGS, "models": model_results, "layers": layer_results},
                                      indent=1) + "\n")
    RESULT_MD.write_text(render(model_results, layer_results, wall, args.jobs))
    print(f"wrote {RESULT_MD} and {RESULT_JSON} in {wall / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
