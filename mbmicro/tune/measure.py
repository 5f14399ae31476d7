"""Measure tuning candidates: one kernel with one knob setting, run in the target's QEMU,
checked bit-exact against mbmicro.reference.int8, counted (instructions, estimated cycles).

Why a candidate is a one-node graph: the kernel's C depends only on the node (shapes,
attributes, the requantization rule; ``OpPlan.spec`` encodes all of it), so a model's layer is
measured alone, on seeded random inputs, with the model's own weights.  Why many candidates per
firmware: a cross-compile and a QEMU boot cost about a second each, while one kernel call costs
microseconds of simulation, so every candidate of a batch is one call in one ``main`` between the
profiling markers (codegen/runtime/mbmicro_hooks.c), and one QEMU run under the counting plugin
gives every candidate's instructions and instruction mix at once.  The firmware compares each
output with the reference itself; a candidate whose output differs, or that does not lower or
compile, becomes an error record, never a result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from mbmicro.codegen import link_script, microkernels
from mbmicro.codegen.kernels import knob_space, lower_node
from mbmicro.codegen.knobs import target_family
from mbmicro.codegen.ops import plan_for
from mbmicro.codegen.weights import c_literal
from mbmicro.errors import UserError
from mbmicro.graph.ir import Graph, Node
from mbmicro.processes import run_child
from mbmicro.reference.int8 import run_node
from mbmicro.sim import cycles, qemu
from mbmicro.targets.target import Target, load_target

#: (sram_bytes, flash_bytes) the measuring firmware links with: the QEMU machine's, not a
#: product's, because a batch of candidates is not a model that must fit a board
MEMORY = {"cortex-m4": (4 << 20, 4 << 20), "cortex-m7": (4 << 20, 4 << 20),
          "cortex-m55": (2 << 20, 8 << 20), "cortex-a53": (64 << 20, 64 << 20)}
#: const bytes (distinct inputs, constants, expected outputs) per firmware
BATCH_BYTES = 1 << 20
#: seconds one firmware may run in QEMU before its candidates count as hung
TIMEOUT_S = 300.0
_RUNTIME = ("mbmicro_hooks.c", "mbmicro_hooks.h")
_CTYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.int32): "int32_t", np.dtype(np.int16): "int16_t",
           np.dtype(np.uint8): "uint8_t", np.dtype(np.int64): "int64_t"}


@dataclasses.dataclass
class Kernel:
    """One unique kernel of a model: what is tuned, once, for every layer that shares it.

    ``key`` is the op template's prefix and spec (every shape constant, attribute and rule the
    source depends on besides the knobs); ``space_version`` hashes the knob space, so a log
    written before a schedule gained or lost a knob value is not applied to it."""

    key: str
    family: str
    op: str
    graph: Graph
    node: str
    space: dict[str, list]
    space_version: str
    layers: list[str] = dataclasses.field(default_factory=list)
    #: calls per inference over all its layers: one per layer of a whole-tensor kernel, one per
    #: row group of a fused layer's row kernel (what the model totals multiply a call's cost by)
    calls: int = 1
    #: a fused layer's row kernel (lowered on a row graph, codegen/fused.py), not a whole tensor's
    rows: bool = False

    @property
    def defaults(self) -> dict:
        """The schedule's default knobs (knob_space lists them first)."""
        return {k: v[0] for k, v in self.space.items()}

    def shape(self) -> dict:
        """Input and output shapes, for people reading the log."""
        g, n = self.graph, self.graph.node(self.node)
        return {"inputs": [list(g.tensors[t].shape) for t in n.inputs],
                "output": list(g.tensors[n.outputs[0]].shape)}

    def space_size(self) -> int:
        size = 1
        for values in self.space.values():
            size *= len(values)
        return size


def core_target(target: Target) -> Target:
    """The core a target measures on (a board runs its core's instructions), with QEMU's memory."""
    core = load_target(target.core or target.name)
    if not qemu.is_simulated(core) or core.name not in MEMORY:
        raise UserError(f"target {target.name} has no instruction-counting simulator: tune for one of "
                        f"{', '.join(sorted(MEMORY))}")
    sram, flash = MEMORY[core.name]
    return dataclasses.replace(core, sram_bytes=sram, flash_bytes=flash)


def space_version(space: dict[str, list]) -> str:
    """A short hash of the knob names and values (their order included: it fixes the defaults)."""
    text = json.dumps(space, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def one_node_graph(graph: Graph, node: Node) -> Graph:
    """``node`` alone: its tensors, its parameters, the graph's rule (meta)."""
    names = list(dict.fromkeys(node.inputs + node.outputs))
    tensors = {t: dataclasses.replace(graph.tensors[t]) for t in names}
    alone = dataclasses.replace(node, inputs=list(node.inputs), outputs=list(node.outputs),
                                attrs=dict(node.attrs), params=dict(node.params))
    inputs = list(dict.fromkeys(node.inputs))
    return Graph(f"tune_{node.name}", tensors, [alone], inputs, list(node.outputs), meta=dict(graph.meta))


def kernel_of(graph: Graph, node: Node, target: Target) -> Kernel:
    """The tunable kernel of ``node`` on ``target``."""
    family = target_family(target)
    plan = plan_for(graph, node, family)
    space = knob_space(graph, node, target)
    return Kernel(key=f"{plan.prefix}_{plan.spec}", family=family, op=node.op, graph=one_node_graph(graph, node),
                  node=node.name, space=space, space_version=space_version(space), layers=[node.name])


def unique_kernels(graph: Graph, target: Target, memory: str = "fast", io_in_arena: bool = False) -> list[Kernel]:
    """The kernels a build with ``--memory memory`` runs, one per key, with every layer that uses
    it; nodes without knobs are skipped.

    Why the build's regions (codegen.fused.build_regions, the same call as codegen/aot.py): a
    fused layer runs its row kernel, not its whole-tensor one, so that is the kernel to tune
    (its key has the row shapes; ``fast`` has no regions: every kernel is whole-tensor)."""
    from mbmicro.codegen import fused
    from mbmicro.graph.fusion import family_of

    rows = {}
    for region in fused.build_regions(graph, memory, io_in_arena, family_of(target.features)):
        for stage, g, node in fused.region_row_graphs(graph, region):
            rows[node.name] = (g, node, -(-stage.out_rows // stage.group))
    found: dict[str, Kernel] = {}
    for node in graph.nodes:
        g, n, calls = rows.get(node.name, (graph, node, 1))
        kernel = kernel_of(g, n, target)
        if not kernel.space or kernel.space_size() < 2:
            continue
        if kernel.key in found:
            found[kernel.key].layers.append(node.name)
            found[kernel.key].calls += calls
        else:
            found[kernel.key] = dataclasses.replace(kernel, calls=calls, rows=node.name in rows)
    return list(found.values())


def feeds_for(kernel: Kernel, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random int8 inputs of the kernel's node (same seed and key, same data)."""
    digest = int(hashlib.sha1(f"{kernel.key}:{seed}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(digest)
    g = kernel.graph
    return {t: rng.integers(-128, 128, size=g.tensors[t].shape, dtype=np.int64).astype(np.int8)
            for t in g.inputs}


def reference_output(kernel: Kernel, feeds: dict[str, np.ndarray]) -> np.ndarray:
    node = kernel.graph.node(kernel.node)
    return np.asarray(run_node(kernel.graph, node, [feeds[t] for t in node.inputs])).astype(np.int8)


@dataclasses.dataclass
class Case:
    """One call in a measuring firmware: a lowered kernel, its inputs and the expected output."""

    index: int
    knobs: dict
    lowered: object
    feeds: dict
    expected: np.ndarray

    def arrays(self) -> list[np.ndarray]:
        return [self.expected, *(np.asarray(v) for v in self.feeds.values()),
                *(np.asarray(a.value) for a in self.lowered.args if a.kind == "const")]


class _Data:
    """Const arrays of a firmware, stored once by content (the candidates of one kernel share
    their inputs, weights and expected output)."""

    def __init__(self):
        self.names: dict[str, str] = {}
        self.parts: list[str] = []
        self.bytes = 0

    def name(self, values) -> str:
        values = np.ascontiguousarray(np.asarray(values)).reshape(-1)
        digest = hashlib.sha1(values.dtype.str.encode() + values.tobytes()).hexdigest()[:16]
        if digest not in self.names:
            ctype = _CTYPES[values.dtype]
            body = ",".join(c_literal(int(v), ctype) for v in values) if values.size else "0"
            self.names[digest] = f"d_{digest}"
            self.parts.append(f"static const {ctype} d_{digest}[{max(values.size, 1)}] = {{{body}}};\n")
            self.bytes += values.nbytes
        return self.names[digest]


def _call(case: Case, data: _Data) -> str:
    args = []
    for arg in case.lowered.args:
        if arg.kind == "int":
            args.append(c_literal(arg.value, arg.ctype))
        elif arg.kind == "row":  # a fused loop's value: the case's feeds give it
            args.append(c_literal(int(case.feeds[arg.value]), arg.ctype))
        elif arg.kind == "output":
            args.append(f"({arg.ctype})mbk_out")
        else:
            values = case.feeds[arg.value] if arg.kind == "input" else arg.value
            args.append(f"({arg.ctype}){data.name(values)}")
    return f"{case.lowered.function}({', '.join(args)});"


def render_driver(cases: list[Case], board: bool = False) -> str:
    """One C file: the candidates' kernels, their data, and code that runs and checks each in order.

    For QEMU (semihosting, newlib): a ``main`` that prints ``mismatch I`` per wrong output and
    ``done N``.  For a board (-nostdlib, targets/common/fw_tune.c has ``main``): a
    ``mbmicro_tune_run`` that hands each candidate's verdict to ``mbmicro_tune_result``, which
    prints it with the candidate's cycles on the board's console."""
    sources: dict[str, str] = {}
    for c in cases:  # a kernel's name encodes its spec and knobs: one name, one source
        if sources.setdefault(c.lowered.function, c.lowered.source) != c.lowered.source:
            raise RuntimeError(f"{c.lowered.function}: two kernels of one name with different sources")
    data = _Data()
    out_bytes = max(c.expected.size for c in cases)
    body = []
    for i, case in enumerate(cases):
        call = _call(case, data)
        expected = data.name(case.expected)
        run = (f"    memset(mbk_out, 0x5a, sizeof mbk_out);\n"
               f"    mbmicro_layer_begin({i});\n    {call}\n    mbmicro_layer_end({i});\n")
        if board:
            body.append(run + f"    mbmicro_tune_result({i}, mbmicro_tune_same(mbk_out, {expected}, "
                              f"{case.expected.size}));\n")
        else:
            body.append(run + f"    if (memcmp(mbk_out, {expected}, {case.expected.size}) != 0) {{\n"
                              f"        printf(\"mismatch {i}\\n\");\n    }}\n")
    if board:
        head = "#include <stdint.h>\n#include <string.h>\n#include \"fw_tune.h\"\n#include \"mbmicro_hooks.h\"\n\n"
        main = (f"const int32_t mbmicro_tune_count = {len(cases)};\n\nvoid mbmicro_tune_run(void)\n{{\n"
                + "".join(body) + "}\n")
    else:
        head = "#include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n#include \"mbmicro_hooks.h\"\n\n"
        main = ("int main(void)\n{\n" + "".join(body)
                + f"    printf(\"done {len(cases)}\\n\");\n    return 0;\n}}\n")
    return (head + "".join(sources[n] + "\n" for n in sorted(sources)) + "".join(data.parts)
            + f"static int8_t mbk_out[{out_bytes}];\n\n" + main)


def copy_driver(cases: list[Case], folder: Path, board: bool = False) -> None:
    """driver.c, the runtime hooks' header and the micro-kernel headers the cases include."""
    runtime = Path(str(microkernels.folder().parent / "runtime"))
    for name in _RUNTIME if not board else ("mbmicro_hooks.h",):
        shutil.copy(runtime / name, folder / name)
    headers = {h for c in cases for h in microkernels.headers_included(c.lowered.source)}
    microkernels.copy_headers(headers, folder)
    (folder / "driver.c").write_text(render_driver(cases, board=board))


def compile_in(folder: Path, cmd: list[str]) -> str:
    """Compile and link in ``folder``: "" or the compiler's complaint, shortened to one line."""
    done = run_child(cmd, cwd=folder, text=True)
    return "compile: " + " ".join(done.stderr.split())[:300] if done.returncode else ""


class QemuMeter:
    """Measures cases in the target's QEMU under the counting plugin: instructions per case and
    estimated cycles from the instruction mix (mbmicro.sim.cycles)."""

    measured_on = "qemu"
    batch_bytes = BATCH_BYTES

    def __init__(self, target: Target, timeout: float = TIMEOUT_S):
        self.target = core_target(target)
        self.timeout = timeout

    def firmware(self, cases: list[Case], folder: Path) -> tuple[Path | None, str]:
        """Write and link the measuring firmware; (executable, "") or (None, the compiler's complaint)."""
        target = self.target
        folder.mkdir(parents=True, exist_ok=True)
        for name in target.extra.get("files", []):
            src = target.folder / name
            if src.suffix == ".ld":
                (folder / src.name).write_text(link_script.render(src.read_text(), target))
            else:
                shutil.copy(src, folder / src.name)
        copy_driver(cases, folder)
        compiled = sorted(p.name for p in folder.iterdir() if p.suffix in (".c", ".S"))
        exe = target.extra.get("exe", "app")
        why = compile_in(folder, [target.cc, *target.cflags, *compiled, *target.ldflags, "-o", exe])
        return (None, why) if why else (folder / exe, "")

    def run(self, cases: list[Case], folder: Path) -> tuple[list[dict] | None, str]:
        """Per case ``{"ok": ..., counts}``, or (None, why) when the batch did not build or finish."""
        exe, why = self.firmware(cases, folder)
        if exe is None:
            return None, why
        text, counts = _run_counted(self.target, exe, folder, self.timeout)
        if counts is None or f"done {len(cases)}" not in text:
            return None, "run: the firmware did not finish in QEMU (crash, fault or timeout)"
        table = cycles.load_table(self.target)
        bad = {int(line.split()[1]) for line in text.splitlines() if line.startswith("mismatch ")}
        results = []
        for i in range(len(cases)):
            if i in bad:
                results.append({"ok": False, "error": VERIFY_ERROR})
                continue
            mix = counts.mix[i] if counts.mix else {}
            est = cycles.estimate(mix, table) if (table and mix) else None
            results.append({"ok": True, "instructions": int(counts.regions[i]), "cycles": est,
                            "cycles_are": "estimated"})
        return results, ""


#: the error of a candidate whose output is not the reference's
VERIFY_ERROR = "verify: output differs from mbmicro.reference.int8"


def _run_counted(target: Target, exe: Path, folder: Path, timeout: float) -> tuple[str, qemu.InstructionCounts | None]:
    """Run the firmware once under the counting plugin: (its stdout, the counts or None)."""
    begin, end = qemu.marker_addresses(target, exe)
    report = folder / "counts.txt"
    plugin = [str(qemu.plugin_path()), f"begin={begin:#x}", f"end={end:#x}", f"out={report}"]
    env = {"LC_ALL": "C"} if target.simulator.get("kind") == "qemu-user" else None
    try:
        result = run_child(qemu.command(target, exe.resolve(), [], plugin=plugin), cwd=folder, env=env,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return "", None
    text = result.stdout.decode(errors="replace")
    if result.returncode != 0 or not report.exists():
        return text, None
    return text, qemu.parse_counts(report.read_text())


def make_record(kernel: Kernel, knobs: dict, **result) -> dict:
    """One log record (mbmicro.tune.log): the candidate's identity, its shape, and ``result``."""
    return {"target": kernel.family, "op": kernel.op, "kernel": kernel.key, "space": kernel.space_version,
            "shape": kernel.shape(), "knobs": knobs, **result}


def run_cases(meter, cases: list[Case]) -> list[dict]:
    """Each case's result (``ok`` and the meter's numbers, or ``ok: false`` and an ``error``),
    in order; batches split so one firmware's distinct data stays under ``meter.batch_bytes``,
    and a batch that fails to build or finish is split until the failing case stands alone, so
    one bad case costs only itself."""
    out = []
    for batch in _batches(cases, meter.batch_bytes):
        out += _run_split(meter, batch)
    return out


def _run_split(meter, cases: list[Case]) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="mbmicro-tune-") as tmp:
        results, why = meter.run(cases, Path(tmp))
    if results is not None:
        return results
    if len(cases) > 1:
        half = len(cases) // 2
        return _run_split(meter, cases[:half]) + _run_split(meter, cases[half:])
    return [{"ok": False, "error": why}]


def _batches(cases: list[Case], limit: int) -> list[list[Case]]:
    """Cases split so that one firmware's distinct const data stays under ``limit`` bytes."""
    batches, current, seen, size = [], [], set(), 0
    for case in cases:
        arrays = case.arrays()
        new = [a for a in arrays if (a.dtype.str, a.tobytes()) not in seen]
        n = sum(a.nbytes for a in new)
        if current and size + n > limit:
            batches.append(current)
            current, seen, size = [], set(), 0
            new, n = arrays, sum(a.nbytes for a in arrays)
        seen.update((a.dtype.str, a.tobytes()) for a in new)
        current.append(case)
        size += n
    return batches + ([current] if current else [])


def measure(kernel: Kernel, candidates: list[dict], target: Target, *, seed: int = 0,
            timeout: float = TIMEOUT_S, lower=lower_node, meter=None) -> list[dict]:
    """One record per candidate knob setting, in order: instructions and estimated cycles of
    a verified run in QEMU (or what ``meter`` measures, e.g. a board's cycles:
    mbmicro.tune.board), or ``ok: false`` with the error.  ``lower`` replaces
    codegen.kernels.lower_node (tests corrupt a candidate through it)."""
    meter = meter or QemuMeter(target, timeout)
    feeds = feeds_for(kernel, seed)
    expected = reference_output(kernel, feeds)
    node = kernel.graph.node(kernel.node)
    records: dict[int, dict] = {}
    cases = []
    for i, knobs in enumerate(candidates):
        try:
            lowered = lower(kernel.graph, node, meter.target, knobs)
        except Exception as exc:  # noqa: BLE001 - a schedule that refuses a knob setting is a result too
            records[i] = {"ok": False, "error": f"lower: {type(exc).__name__}: {exc}"[:300]}
            continue
        cases.append(Case(i, knobs, lowered, feeds, expected))
    for case, result in zip(cases, run_cases(meter, cases)):
        records[case.index] = result
    return [make_record(kernel, knobs, **records[i], measured_on=meter.measured_on)
            for i, knobs in enumerate(candidates)]
