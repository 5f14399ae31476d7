"""CMSIS-NN beside mbmicro on layer shapes of the 11 models; writes results/cmsis_nn.json and .md.

Why this script: issue 9's targets are ratios against CMSIS-NN (TFLite Micro's kernels on
Cortex-M) for the same layer shape, so both sides are measured here the same way: the
same QEMU, the same counting plugin (targets/common/qemu_insn_count.c), the same markers
around the layer.

* CMSIS-NN: compiled from a checkout given by ``CMSIS_NN_DIR`` (a pinned commit of
  github.com/ARM-software/CMSIS-NN, see CMSIS_NN_COMMIT) with arm-none-eabi-gcc at
  TFLite Micro's release flags (TFLM_FLAGS), outside the repository: CMSIS-NN is only
  compiled to be measured, never copied here. Its headers need no CMSIS-Core (the
  checkout's Include/ is enough). benchmarks/cmsis_nn_harness.c calls the wrapper TFLM
  calls (arm_convolve_wrapper_s8 -> arm_convolve_1x1_s8_fast for these 1x1 layers;
  arm_depthwise_conv_wrapper_s8 -> arm_depthwise_conv_3x3_s8 or _s8_opt; the 3x3 stride-2
  stems -> arm_convolve_s8) on a seeded
  random input; its output is checked bit-exact against the NumPy reference under
  TFLite's rounding (CMSIS-NN's default double rounding, docs/INT8_SEMANTICS.md).
* mbmicro: the same shape as a one-layer int8 graph (targets.layer_graph), built with
  the normal code generator, verified bit-exact against the reference, profiled.

Without ``CMSIS_NN_DIR`` the committed results/cmsis_nn.json is reused (only the
markdown is re-rendered), so ``make benchmarks`` works without the checkout.

Usage: ``CMSIS_NN_DIR=/path/to/CMSIS-NN python benchmarks/cmsis_nn.py [--jobs 2] [--cores c,d]
[--kinds stem]`` (``--kinds``: measure only those layer kinds, keep the committed rows of the others).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from mbmicro import progress

HERE = Path(__file__).resolve().parent
RESULT_MD = HERE / "results" / "cmsis_nn.md"
RESULT_JSON = HERE / "results" / "cmsis_nn.json"
HARNESS = HERE / "cmsis_nn_harness.c"
WORK = HERE.parent / "out" / "bench-cmsis"
CMSIS_NN_COMMIT = "99f736a63036613032f9b70de36b493bcd7802d4"  # CMSIS-NN v7.0.0-43, 2026-07-15
CORES = ["cortex-m4", "cortex-m7", "cortex-m55"]
#: TFLite Micro's tools/make flags for third-party kernels with GCC (BUILD_TYPE=release):
#: THIRD_PARTY_KERNEL_OPTIMIZATION_LEVEL -O2 plus its common code-generation flags
TFLM_FLAGS = ["-O2", "-ffunction-sections", "-fdata-sections", "-fno-unwind-tables", "-fmessage-length=0",
              "-funsigned-char", "-fomit-frame-pointer", "-DNDEBUG", "-DTF_LITE_STRIP_ERROR_STRINGS"]
#: the machine options taken from each target.json (the rest of its cflags are mbmicro's)
MACHINE_PREFIXES = ("-mcpu=", "-mthumb", "-mfloat-abi=", "-mfpu=")
#: one image for every shape: 2 MiB of SRAM (every board has it in QEMU), 1.5 MiB of it the case pool
SRAM_BYTES = 2 << 20
POOL_BYTES = 1536 * 1024
#: what the conv / depthwise wrappers call (the MVE depthwise path transposes through arm_transpose_s8)
SOURCE_FOLDERS = ("ConvolutionFunctions", "NNSupportFunctions", "TransposeFunctions")
CASE_MAGIC = 0x31424E43
OP_CONV, OP_DEPTHWISE = 0, 1

#: pointwise shapes: (source, size, K = input channels, output channels); the K values of
#: issue 9, each at a layer of the benchmark configs (K = 320 only exists at width 1.0)
POINTWISE = [
    ("mobilenetv2 0.35/96", 48, 8, 48),
    ("mobilenetv2 0.35/96", 12, 16, 96),
    ("mobilenetv2 0.35/96", 6, 24, 144),
    ("mobilenetv2 0.35/96", 12, 96, 16),
    ("mobilenetv2 0.35/96", 6, 192, 32),
    ("mobilenetv2 1.0/96 head", 3, 320, 1280),
]
#: depthwise shapes: (source, kernel, stride, input size, channels): per kernel and stride
#: the fewest and most channels found in the 11 models (960 and 576: MobileNetV2 1.0/96)
DEPTHWISE = [
    ("fbnet-b 0.35/96", 3, 1, 24, 8),
    ("mobilenetv2 0.35/96", 3, 1, 12, 96),
    ("mobilenetv2 1.0/96", 3, 1, 3, 960),
    ("mixnet-m 0.25/96", 3, 2, 24, 12),
    ("mobilenetv2 0.35/96", 3, 2, 24, 48),
    ("mobilenetv2 1.0/96", 3, 2, 6, 576),
    ("fbnet-b 0.35/96", 5, 1, 24, 8),
    ("fbnet-b 0.35/96", 5, 1, 6, 120),
    ("fbnet-c 0.35/96", 5, 1, 3, 400),
    ("mixnet-m 0.25/96", 5, 2, 24, 12),
    ("mnasnet-a1 0.35/96", 5, 2, 6, 240),
    ("mixnet-m 0.25/96", 7, 1, 6, 18),
    ("proxyless-r 0.35/96", 7, 1, 3, 384),
    ("mixnet-m 0.25/96", 7, 2, 24, 12),
    ("proxyless-r 0.35/96", 7, 2, 6, 192),
]

#: stem shapes (3x3 stride 2 conv2d on the 3 image channels, the models' first layer):
#: (source, input size, output channels), the output channel counts of the 11 models
STEMS = [
    ("fbnet-b 0.35/96", 96, 8),
    ("mobilenetv2 0.35/96", 96, 16),
    ("rexnet 0.35/80", 80, 32),
]
KINDS = ("depthwise", "pointwise", "stem")


@dataclasses.dataclass(frozen=True)
class Shape:
    """One layer shape: what both sides run."""

    kind: str  # "pointwise" | "depthwise" | "stem"
    size: int  # input height = width
    c_in: int
    c_out: int
    kernel: int
    stride: int
    source: str

    @property
    def label(self) -> str:
        out = -(-self.size // self.stride)
        if self.kind == "pointwise":
            return f"pointwise {self.size}x{self.size}x{self.c_in} -> {self.c_out}"
        if self.kind == "stem":
            return (f"stem conv {self.kernel}x{self.kernel} s{self.stride} {self.size}x{self.size}x{self.c_in} -> "
                    f"{out}x{out}x{self.c_out}")
        return f"depthwise {self.kernel}x{self.kernel} s{self.stride} {self.size}x{self.size}x{self.c_in} -> {out}x{out}"


def shapes() -> list[Shape]:
    """Every measured shape, pointwise first, the stems last."""
    return ([Shape("pointwise", s, k, n, 1, 1, src) for src, s, k, n in POINTWISE]
            + [Shape("depthwise", s, c, c, k, st, src) for src, k, st, s, c in DEPTHWISE]
            + [Shape("stem", s, 3, n, 3, 2, src) for src, s, n in STEMS])


def bench_targets():
    """benchmarks/targets.py, loaded by path: the name ``targets`` is also the repository's targets/ folder."""
    import importlib.util

    name = "mbmicro_bench_targets"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "targets.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def layer_graph(shape: Shape):
    """The shape as mbmicro's one-layer int8 graph (benchmarks/targets.py builds it)."""
    return bench_targets().layer_graph(shape.kind, shape.size, shape.c_in, shape.c_out, shape.stride,
                                       kernel=shape.kernel)


# ---- CMSIS-NN side -------------------------------------------------------------------

def checkout_commit(src: Path) -> str:
    """The commit of the CMSIS-NN checkout (git), or 'unknown' for a plain copy."""
    try:
        out = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def check_checkout(src: Path) -> None:
    """A checkout is usable when it has the s8 API header and the source folders."""
    from mbmicro.errors import UserError

    needed = [src / "Include" / "arm_nnfunctions.h"] + [src / "Source" / f for f in SOURCE_FOLDERS]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise UserError(f"CMSIS_NN_DIR={src} is not a CMSIS-NN checkout (missing {missing[0]}): clone "
                        f"github.com/ARM-software/CMSIS-NN at {CMSIS_NN_COMMIT[:12]} and point CMSIS_NN_DIR at it")


def cmsis_sources(src: Path) -> list[Path]:
    """The integer convolution and support sources (--gc-sections drops what is not called)."""
    files = [f for folder in SOURCE_FOLDERS for f in sorted((src / "Source" / folder).glob("*.c"))]
    return [f for f in files if "_f16" not in f.name and "_f32" not in f.name]


def machine_flags(target) -> list[str]:
    return [f for f in target.cflags if f.startswith(MACHINE_PREFIXES)]


def build_firmware(core: str, src: Path, work: Path) -> Path:
    """Compile CMSIS-NN + the harness + mbmicro's M-profile start-up into one image for ``core``."""
    from mbmicro.codegen.link_script import render
    from mbmicro.targets.budgets import with_budgets
    from mbmicro.targets.target import load_target, targets_root

    target = with_budgets(load_target(core), sram=SRAM_BYTES)
    work.mkdir(parents=True, exist_ok=True)
    (work / "link.ld").write_text(render((target.folder / "link.ld").read_text(), target))
    common = targets_root() / "common"
    runtime = Path(__file__).resolve().parent.parent / "codegen" / "runtime"
    flags = machine_flags(target) + TFLM_FLAGS + ["-I", str(src / "Include"), "-I", str(runtime),
                                                  "-I", str(common)]
    objects = []
    for f in cmsis_sources(src):
        obj = work / (f.stem + ".o")
        _compile(target.cc, flags + ["-c", str(f), "-o", str(obj)])
        objects.append(str(obj))
    exe = work / "app.elf"
    start = [str(common / n) for n in ("startup_m.S", "crt_m.c", "semihost_m.c")]
    _compile(target.cc, flags + [f"-DPOOL_BYTES={POOL_BYTES}", str(HARNESS), str(runtime / "mbmicro_hooks.c"),
                                 *start, *objects, "-T", str(work / "link.ld"), "-L", str(common),
                                 "--specs=rdimon.specs", "-nostartfiles", "-Wl,--gc-sections", "-o", str(exe)])
    return exe


def _compile(cc: str, args: list[str]) -> None:
    from mbmicro.processes import run_child

    result = run_child([cc, *args], text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{cc} {' '.join(args)}\n{result.stderr}")


def case_bytes(graph, x: np.ndarray) -> bytes:
    """The harness's case file for the one-layer graph and its int8 input."""
    node = graph.nodes[0]
    t_in, t_out = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    _, h, w, c_in = t_in.shape
    _, oh, ow, c_out = t_out.shape
    weight = node.params["weight"]
    kh, kw = node.attrs["kernel"]
    pad_top, pad_left = node.attrs["pad"][0], node.attrs["pad"][1]
    header = [CASE_MAGIC, OP_CONV if node.op == "conv2d" else OP_DEPTHWISE, h, w, c_in, oh, ow, c_out, kh, kw,
              node.attrs["stride"], pad_top, pad_left, -t_in.zero_point, t_out.zero_point,
              node.attrs.get("act_min", -128), node.attrs.get("act_max", 127)]

    def padded(a: np.ndarray) -> bytes:
        raw = np.ascontiguousarray(a, dtype=np.int8).tobytes()
        return raw + bytes(-len(raw) % 4)

    exponent = 31 - node.params["shift"].astype(np.int64)  # TFLite's / CMSIS-NN's shift
    return b"".join([np.asarray(header, "<i4").tobytes(), padded(x), padded(weight),
                     node.params["bias"].astype("<i4").tobytes(), node.params["multiplier"].astype("<i4").tobytes(),
                     exponent.astype("<i4").tobytes()])


def tflite_reference(graph, x: np.ndarray) -> np.ndarray:
    """What CMSIS-NN must output: the int8 reference with TFLite's (double) rounding."""
    from mbmicro.reference.int8 import run_int8

    tflite = dataclasses.replace(graph, meta={**graph.meta, "requant": "tflite"})
    return run_int8(tflite, x)


def cmsis_function(shape: Shape, core: str) -> str:
    """The function the CMSIS-NN wrapper dispatches to for the shape (its conditions, as in the source)."""
    if shape.kind == "pointwise":
        return "arm_convolve_1x1_s8_fast"
    if shape.kind == "stem":
        return "arm_convolve_s8"
    pad = (shape.kernel - 1) // 2
    if core != "cortex-m55" and shape.kernel == 3 and pad <= 1:
        return "arm_depthwise_conv_3x3_s8"
    return "arm_depthwise_conv_s8_opt"


def run_cmsis(shape: Shape, core: str, exe: Path) -> dict:
    """Run CMSIS-NN on the shape under the counting plugin; check its output bit for bit."""
    from mbmicro.sim import cycles, qemu
    from mbmicro.targets.target import load_target

    target = load_target(core)
    graph = layer_graph(shape)
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, size=graph.input.shape, dtype=np.int8)
    with tempfile.TemporaryDirectory(prefix="bench-cmsis-") as tmp:
        work = Path(tmp)
        (work / "case.bin").write_bytes(case_bytes(graph, x))
        counts = qemu.count_instructions(target, exe, ["case.bin", "out.bin"], cwd=work)
        y = np.frombuffer((work / "out.bin").read_bytes(), dtype=np.int8)
    expect = tflite_reference(graph, x)
    verified = y.size == expect.size and bool(np.array_equal(y, expect.reshape(-1)))
    return {"function": cmsis_function(shape, core), "instructions": counts.regions[0], "verified": verified,
            "estimated_cycles": cycles.estimate(counts.mix[0], cycles.load_table(target)), "mix": counts.mix[0]}


# ---- mbmicro side --------------------------------------------------------------------

def run_mbmicro(shape: Shape, core: str) -> dict:
    """Build the one-layer graph with mbmicro, verify it, profile it (as benchmarks/targets.py does)."""
    from mbmicro.targets.budgets import with_budgets
    from mbmicro.targets.target import load_target

    bench = bench_targets()
    graph = layer_graph(shape)
    with tempfile.TemporaryDirectory(prefix="bench-cmsis-mb-") as tmp:
        r = bench.measure(graph, with_budgets(load_target(core), sram=bench.LAYER_SRAM), Path(tmp) / "b",
                          graph.name, {"shape": shape.label})
    layer = r["layers"][0]
    return {"instructions": layer["instructions"], "verified": r["verified"],
            "estimated_cycles": layer["estimated_cycles"], "mix": layer["mix"]}


def job(args: tuple) -> dict:
    shape, core, exe = args
    macs = shape_macs(shape)
    cmsis, ours = run_cmsis(shape, core, exe), run_mbmicro(shape, core)
    for side in (cmsis, ours):
        side["instructions_per_mac"] = side["instructions"] / macs
        side["estimated_cycles_per_mac"] = side["estimated_cycles"] / macs
    return {"label": shape.label, "kind": shape.kind, "source": shape.source, "core": core, "macs": macs,
            "shape": dataclasses.asdict(shape), "cmsis_nn": cmsis, "mbmicro": ours,
            "ratio": ours["instructions"] / cmsis["instructions"],
            "cycle_ratio": ours["estimated_cycles"] / cmsis["estimated_cycles"]}


def shape_macs(shape: Shape) -> int:
    out = -(-shape.size // shape.stride)
    if shape.kind == "pointwise":
        return out * out * shape.c_in * shape.c_out
    if shape.kind == "stem":
        return out * out * shape.c_in * shape.kernel * shape.kernel * shape.c_out
    return out * out * shape.c_in * shape.kernel * shape.kernel


# ---- report --------------------------------------------------------------------------

def render(data: dict) -> str:
    """The markdown section of BENCHMARKS.md."""
    rows = data["rows"]
    out = ["## Against CMSIS-NN, layer by layer (issue 9)", "",
           "Written by `benchmarks/cmsis_nn.py`. CMSIS-NN at commit "
           f"`{data['cmsis_nn_commit'][:12]}` compiled with {data['compiler']} at TFLite Micro's release flags "
           f"(`{' '.join(data['tflm_flags'])}`), called through the wrapper TFLite Micro calls; mbmicro: the same "
           "shape as a one-layer graph built by `mbmicro build`. Both run in the same QEMU under the same counting "
           "plugin; both outputs are checked bit for bit against the NumPy int8 reference (CMSIS-NN under "
           "TFLite's double rounding, mbmicro under its own single rounding). Instructions are executed "
           "instructions of the layer, exactly repeatable; **est. cycles are an estimate, not a measurement**: "
           "the plugin's instruction mix priced with `targets/<core>/cycles.json` (cycles per instruction class "
           "from the core's technical reference manual; no caches, no stalls, its approximations listed there). "
           "Ratio = mbmicro / CMSIS-NN; issue 9's target is <= 0.8 for both.", "",
           "| layer | from | core | CMSIS-NN function | instr/MAC CMSIS-NN / mbmicro | verified CMSIS-NN / "
           "mbmicro | ratio (instr) | est. cycles/MAC CMSIS-NN / mbmicro | ratio (est. cycles) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c, m = r["cmsis_nn"], r["mbmicro"]
        ok = f"{'yes' if c['verified'] else 'NO'} / {'yes' if m['verified'] else 'NO'}"
        out.append(f"| {r['label']} | {r['source']} | {r['core']} | `{c['function']}` | "
                   f"{c['instructions_per_mac']:.2f} / {m['instructions_per_mac']:.2f} | {ok} | {r['ratio']:.2f} | "
                   f"{c['estimated_cycles_per_mac']:.2f} / {m['estimated_cycles_per_mac']:.2f} | "
                   f"{r['cycle_ratio']:.2f} |")
    out += ["", "Ratio mbmicro / CMSIS-NN, min / median / max per layer type and core (instructions; estimated "
            "cycles):", "", "| core | " + " | ".join(f"{kind} ({what})" for what in ("instr", "est. cycles")
                                                      for kind in KINDS) + " |",
           "|---|" + "---|" * 2 * len(KINDS)]
    for core in data["cores"]:
        cells = [_spread([r[key] for r in rows if r["core"] == core and r["kind"] == kind])
                 for key in ("ratio", "cycle_ratio") for kind in KINDS]
        out.append(f"| {core} | {' | '.join(cells)} |")
    out.append("")
    return "\n".join(out)


def _spread(values: list[float]) -> str:
    """min / median / max (the upper median for an even count)."""
    if not values:
        return "-"
    v = sorted(values)
    return f"{v[0]:.2f} / {v[len(v) // 2]:.2f} / {v[-1]:.2f}"


def compiler_version() -> str:
    out = subprocess.run(["arm-none-eabi-gcc", "-dumpversion"], capture_output=True, text=True, check=True)
    return f"arm-none-eabi-gcc {out.stdout.strip()}"


def measure_all(src: Path, cores: list[str], jobs: int, kinds=KINDS) -> dict:
    check_checkout(src)
    commit = checkout_commit(src)
    exes = {core: build_firmware(core, src, WORK / core) for core in cores}
    work = [(s, core, exes[core]) for s in shapes() if s.kind in kinds for core in cores]
    rows = []
    with ProcessPoolExecutor(max_workers=jobs, initializer=progress.set_quiet, initargs=(True,)) as pool:
        for r in progress.track(pool.map(job, work), total=len(work), desc="layers", unit="layer"):
            rows.append(r)
            print(f"{r['label']} {r['core']}: CMSIS-NN {r['cmsis_nn']['instructions_per_mac']:.2f} "
                  f"(verified={r['cmsis_nn']['verified']}), mbmicro {r['mbmicro']['instructions_per_mac']:.2f} "
                  f"(verified={r['mbmicro']['verified']}), ratio {r['ratio']:.2f}", flush=True)
    return {"cmsis_nn_commit": commit, "pinned_commit": CMSIS_NN_COMMIT, "compiler": compiler_version(),
            "tflm_flags": TFLM_FLAGS, "cores": cores, "rows": rows}


def _kinds(text: str) -> tuple[str, ...]:
    from mbmicro.errors import UserError

    kinds = tuple(k for k in text.split(",") if k)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise UserError(f"--kinds {text!r}: unknown layer kind {', '.join(unknown) or '(none)'}; "
                        f"use some of {','.join(KINDS)}")
    return kinds


def merged(data: dict, kinds) -> dict:
    """``data`` (rows of ``kinds`` only) with the committed rows of the other kinds, in shapes() order;
    the committed results must come from the same CMSIS-NN commit."""
    from mbmicro.errors import UserError

    old = json.loads(RESULT_JSON.read_text()) if RESULT_JSON.exists() else None
    if old is None or old["cmsis_nn_commit"] != data["cmsis_nn_commit"]:
        raise UserError(f"--kinds needs a committed {RESULT_JSON.name} measured at CMSIS-NN "
                        f"{data['cmsis_nn_commit'][:12]}: measure every kind (drop --kinds)")
    rows = {(r["label"], r["core"]): r for r in old["rows"] if r["kind"] not in kinds}
    rows.update({(r["label"], r["core"]): r for r in data["rows"]})
    cores = [c for c in CORES if c in set(old["cores"]) | set(data["cores"])]
    order = [(s.label, core) for s in shapes() for core in cores]
    return {**data, "cores": cores, "rows": [rows[key] for key in order if key in rows]}


def main(argv: list[str]) -> int:
    import os

    from mbmicro.errors import UserError

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--cores", default=",".join(CORES))
    p.add_argument("--kinds", default=",".join(KINDS),
                   help="layer kinds to measure; the committed rows of the others are kept")
    args = p.parse_args(argv)
    src = os.environ.get("CMSIS_NN_DIR")
    try:
        if not src:
            if not RESULT_JSON.exists():
                raise UserError(f"no {RESULT_JSON.name} to reuse: set CMSIS_NN_DIR to a CMSIS-NN checkout "
                                f"(github.com/ARM-software/CMSIS-NN at {CMSIS_NN_COMMIT[:12]}) to measure")
            print(f"CMSIS_NN_DIR not set: reusing {RESULT_JSON}")
            data = json.loads(RESULT_JSON.read_text())
        else:
            started = time.perf_counter()
            kinds = _kinds(args.kinds)
            data = measure_all(Path(src).resolve(), args.cores.split(","), args.jobs, kinds)
            data["wall_s"] = round(time.perf_counter() - started, 1)
            if set(kinds) != set(KINDS):
                data = merged(data, kinds)
            RESULT_JSON.write_text(json.dumps(data, indent=1) + "\n")
    except UserError as exc:
        print(f"mbmicro: error: {exc}", file=sys.stderr)
        return 2
    RESULT_MD.write_text(render(data))
    print(f"wrote {RESULT_MD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
