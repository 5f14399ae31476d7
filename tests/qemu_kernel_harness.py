"""Test helper: run many generated kernels for an ARM core in QEMU, bit-exact against
mbmicro.reference.int8, and count each kernel's executed instructions.

Why this is a thin wrapper: building one firmware for many kernel calls, running it in QEMU
under the counting plugin and reading per-call counts is what ``mbmicro tune`` measures
candidates with (mbmicro/tune/measure.py: Case, QemuMeter, run_cases), so the tests use that
shipped code instead of a second copy.  A case is a (graph, node, feeds, knobs, reference)
tuple, as kernel_harness.run_cases takes; every case is lowered for the core, all of them go
into as few firmwares as their data allows, each call between mbmicro_layer_begin(i) and
mbmicro_layer_end(i), and the firmware compares each output with the reference.

    from qemu_kernel_harness import run_cases_qemu
    counts = run_cases_qemu(cases, "cortex-m4", count=True)   # asserts bit-exactness

The memory budgets are the QEMU boards' (measure.MEMORY), not the products'.
"""

from __future__ import annotations

import numpy as np

from mbmicro.codegen.kernels import lower_node
from mbmicro.targets.target import load_target
from mbmicro.tune.measure import VERIFY_ERROR, Case, QemuMeter, run_cases


def run_cases_qemu(cases, core: str, count: bool = False, cycles: bool = False) -> list | None:
    """Lower every (graph, node, feeds, knobs, reference) case for ``core``, run them in QEMU,
    fail naming the kernels whose output differs (or that did not build or run); with
    ``count``, return each case's executed instructions (the call plus a constant few for the
    markers), in case order; with ``cycles`` too, (instructions, estimated cycles) pairs
    (mbmicro.sim.cycles)."""
    meter = QemuMeter(load_target(core), timeout=900)
    lowered = [Case(i, kn, lower_node(g, n, meter.target, kn), feeds, np.asarray(ref).astype(np.int8))
               for i, (g, n, feeds, kn, ref) in enumerate(cases)]
    results = run_cases(meter, lowered)
    bad = [c.lowered.function for c, r in zip(lowered, results) if not r["ok"] and r["error"] == VERIFY_ERROR]
    assert not bad, f"{len(bad)} kernels differ from the reference on {core}: {bad[:5]}"
    failed = [(c.lowered.function, r["error"]) for c, r in zip(lowered, results) if not r["ok"]]
    assert not failed, f"{len(failed)} kernels did not build or run on {core}: {failed[:3]}"
    if not count:
        return None
    return [(r["instructions"], r["cycles"]) if cycles else r["instructions"] for r in results]
