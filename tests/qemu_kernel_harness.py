"""Test helper: run many generated kernels for an ARM core in QEMU, bit-exact against
mbmicro.reference.int8, and count each kernel's executed instructions.

Why one firmware for many cases: a cross-compile and a QEMU boot cost about a second
each, so the cases (the same (graph, node, feeds, knobs, reference) tuples that
kernel_harness.run_cases takes) are lowered for the core, written as one C file --
every distinct kernel source, each case's inputs, constant arguments and expected
output as const arrays, and a main that calls the cases in order -- and linked with the
target's own start-up files and flags.  Cases are split into several firmwares only when
their data would not fit (BATCH_BYTES).  Each call sits between mbmicro_layer_begin(i) and
mbmicro_layer_end(i) (codegen/runtime/mbmicro_hooks.c), so the QEMU counting plugin gives
per-case instruction counts with ``count=True``.

    from qemu_kernel_harness import run_cases_qemu
    counts = run_cases_qemu(cases, "cortex-m4", count=True)   # asserts bit-exactness

The output buffer is one shared int8 array in SRAM; inputs, constants and the expected
outputs are const (flash).  The memory budgets are the QEMU boards' (MEMORY below), not
the products', because a test batch is not a model that must fit a board.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from mbmicro.codegen import link_script, microkernels
from mbmicro.codegen.kernels import lower_node
from mbmicro.codegen.weights import c_literal
from mbmicro.sim import cycles as sim_cycles
from mbmicro.sim import qemu
from mbmicro.targets.target import load_target

#: (sram_bytes, flash_bytes) the test firmware links with, per core: what the QEMU board has
MEMORY = {"cortex-m4": (4 << 20, 4 << 20), "cortex-m7": (4 << 20, 4 << 20),
          "cortex-m55": (2 << 20, 8 << 20), "cortex-a53": (64 << 20, 64 << 20)}
#: const bytes (inputs + constants + expected outputs) per firmware before a new one starts
BATCH_BYTES = 1 << 20
_RUNTIME = ("mbmicro_hooks.c", "mbmicro_hooks.h")
_CTYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.int32): "int32_t", np.dtype(np.int16): "int16_t",
           np.dtype(np.uint8): "uint8_t", np.dtype(np.int64): "int64_t"}


@dataclasses.dataclass
class _Case:
    index: int
    kernel: object
    feeds: dict
    expected: np.ndarray

    def data_bytes(self) -> int:
        consts = sum(np.asarray(a.value).nbytes for a in self.kernel.args if a.kind == "const")
        return consts + sum(np.asarray(v).nbytes for v in self.feeds.values()) + self.expected.nbytes


def _array(name: str, values: np.ndarray) -> str:
    values = np.ascontiguousarray(values).reshape(-1)
    ctype = _CTYPES[values.dtype]
    body = ",".join(c_literal(int(v), ctype) for v in values) if values.size else "0"
    return f"static const {ctype} {name}[{max(values.size, 1)}] = {{{body}}};\n"


def _case_c(case: _Case) -> tuple[str, str]:
    """(data definitions, the C call) of one case; the output goes to ``mbk_out``."""
    data, args = [], []
    i = case.index
    for arg in case.kernel.args:
        if arg.kind == "int":
            args.append(c_literal(arg.value, arg.ctype))
        elif arg.kind == "output":
            args.append(f"({arg.ctype})mbk_out")
        else:
            values = case.feeds[arg.value] if arg.kind == "input" else arg.value
            data.append(_array(f"c{i}_{arg.name}", np.asarray(values)))
            args.append(f"({arg.ctype})c{i}_{arg.name}")
    data.append(_array(f"c{i}_expected", case.expected.astype(np.int8)))
    return "".join(data), f"{case.kernel.function}({', '.join(args)});"


def render_driver(cases: list[_Case]) -> str:
    """One C file: the kernels, the data, and a main that runs and checks every case."""
    sources: dict[str, str] = {}
    for case in cases:
        known = sources.setdefault(case.kernel.function, case.kernel.source)
        assert known == case.kernel.source, f"{case.kernel.function}: same name, different source"
    out_bytes = max(c.expected.size for c in cases)
    parts = ["#include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n#include \"mbmicro_hooks.h\"\n\n"]
    parts += [sources[name] + "\n" for name in sorted(sources)]
    parts.append(f"static int8_t mbk_out[{out_bytes}];\n\n")
    body = []
    for case in cases:
        data, call = _case_c(case)
        parts.append(data)
        n = case.expected.size
        body.append(f"    memset(mbk_out, 0x5a, sizeof mbk_out);\n"
                    f"    mbmicro_layer_begin({case.index});\n    {call}\n    mbmicro_layer_end({case.index});\n"
                    f"    if (memcmp(mbk_out, c{case.index}_expected, {n}) != 0) {{\n"
                    f"        printf(\"mismatch {case.index}\\n\");\n        bad++;\n    }}\n")
    parts.append("\nint main(void)\n{\n    int bad = 0;\n" + "".join(body)
                 + f"    printf(\"done {len(cases)} bad %d\\n\", bad);\n    return 0;\n}}\n")
    return "".join(parts)


def _target(core: str):
    target = load_target(core)
    sram, flash = MEMORY[core]
    return dataclasses.replace(target, sram_bytes=sram, flash_bytes=flash)


def build_firmware(target, cases: list[_Case], folder: Path) -> Path:
    """Write the driver, the target's start-up files, the runtime hooks and the micro-kernel
    headers into ``folder``; compile and link with the target's compiler and flags."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in target.extra.get("files", []):
        src = target.folder / name
        if src.suffix == ".ld":
            (folder / src.name).write_text(link_script.render(src.read_text(), target))
        else:
            shutil.copy(src, folder / src.name)
    runtime = Path(str(microkernels.folder().parent / "runtime"))
    for name in _RUNTIME:
        shutil.copy(runtime / name, folder / name)
    headers = {h for c in cases for h in microkernels.headers_included(c.kernel.source)}
    microkernels.copy_headers(headers, folder)
    (folder / "driver.c").write_text(render_driver(cases))
    compiled = sorted(p.name for p in folder.iterdir() if p.suffix in (".c", ".S"))
    exe = target.extra.get("exe", "app")
    cmd = [target.cc, *target.cflags, *compiled, *target.ldflags, "-o", exe]
    done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stderr[:4000]}"
    return folder / exe


def _batches(cases: list[_Case]) -> list[list[_Case]]:
    batches, current, size = [], [], 0
    for case in cases:
        n = case.data_bytes()
        if current and size + n > BATCH_BYTES:
            batches.append(current)
            current, size = [], 0
        current.append(case)
        size += n
    return batches + ([current] if current else [])


def _check_output(text: str, batch: list[_Case]) -> list[str]:
    """Kernel names of the cases the firmware reports as different from the reference."""
    lines = text.splitlines()
    assert f"done {len(batch)} bad" in text, f"firmware did not finish:\n{text[-2000:]}"
    bad = {int(ln.split()[1]) for ln in lines if ln.startswith("mismatch ")}
    return [c.kernel.function for c in batch if c.index in bad]


def run_cases_qemu(cases, core: str, count: bool = False, cycles: bool = False) -> list | None:
    """Lower every (graph, node, feeds, knobs, reference) case for ``core``, run them in QEMU,
    fail naming the kernels whose output differs; with ``count``, return each case's
    executed instructions (the call plus a constant few for the markers), in case order;
    with ``cycles`` too, (instructions, estimated cycles) pairs (mbmicro.sim.cycles)."""
    target = _target(core)
    lowered = [_Case(i, lower_node(g, n, target, kn), feeds, np.asarray(ref))
               for i, (g, n, feeds, kn, ref) in enumerate(cases)]
    counts: list[int] = []
    bad: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mbk-qemu-") as tmp:
        for b, batch in enumerate(_batches(lowered)):
            folder = Path(tmp) / f"fw{b}"
            exe = build_firmware(target, batch, folder)
            result = qemu.run(target, exe, [], cwd=folder, timeout=900)
            assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
            bad += _check_output(result.stdout.decode(errors="replace"), batch)
            if count:
                found = qemu.count_instructions(target, exe, [], cwd=folder, timeout=900)
                if cycles:
                    table = sim_cycles.load_table(target)
                    counts += [(n, sim_cycles.estimate(m, table)) for n, m in zip(found.regions, found.mix)]
                else:
                    counts += found.regions
    assert not bad, f"{len(bad)} kernels differ from the reference on {core}: {bad[:5]}"
    return counts if count else None
