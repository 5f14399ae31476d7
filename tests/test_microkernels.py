"""The micro-kernel infrastructure (codegen/microkernels) and the DSP GEMM micro-kernel.

Checked: the headers ship and are found; a kernel that tensorizes with a micro-kernel
includes its header and calls it; a build folder gets a copy of every header its kernels
include and still verifies bit-exact in QEMU; the portable twin (host) and the SXTB16/SMLAD
path (QEMU, Cortex-M4 and M7) agree bit for bit with mbmicro.reference.int8 on 240
hypothesis-drawn shapes each; the QEMU harness itself reports a wrong kernel.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from kernel_harness import run_cases
from qemu_kernel_harness import run_cases_qemu
from test_kernels_pw import fc_case, pw_case
from mbmicro.cli import main
from mbmicro.codegen import microkernels
from mbmicro.codegen.kernels import clear_cache, knob_space, lower_node
from mbmicro.codegen.ops import common as cm
from mbmicro.codegen.project import build_project
from mbmicro.reference.arith import requantize
from mbmicro.targets.target import load_target

#: 10 hypothesis examples of 24 shapes each (one host .so / one firmware per example), drawn
#: reproducibly and not shrunk: 240 shapes, the first batch hypothesis's simplest ones
BATCHES = settings(max_examples=10, derandomize=True, deadline=None, database=None, phases=[Phase.generate],
                   suppress_health_check=list(HealthCheck))
SHAPES = st.lists(st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(1, 70), st.integers(1, 40),
                            st.integers(0, 2**32 - 1)), min_size=24, max_size=24)


def dsp_cases(shapes, fc_every: int = 8, wide_every: int = 5):
    """A pointwise case per shape with random tile knobs and micro="dsp"; every
    ``fc_every``-th one a fully-connected layer (the same GEMM with one pixel), every
    ``wide_every``-th one with real scales up to 0.9 (shifts below 33: the 64-bit
    requantization instead of requantize_hi32)."""
    cases = []
    for n, (H, W, C, K, seed) in enumerate(shapes):
        rng = np.random.default_rng(seed)
        if n % fc_every == fc_every - 1:
            case = fc_case(rng, C * 4, K)
        elif n % wide_every == wide_every - 1:
            case = pw_case(rng, H, W, C, K, scales=(1e-3, 0.9))
        else:
            case = pw_case(rng, H, W, C, K)
        graph, node, feeds, knobs, ref = case
        cases.append((graph, node, feeds, {**knobs, "micro": "dsp"}, ref))
    return cases


def test_headers_are_shipped_and_found():
    assert "mbmicro_gemm.h" in microkernels.header_names()
    assert microkernels.header_path("mbmicro_gemm.h").read_text().startswith("/*")
    with pytest.raises(ValueError, match="does not exist"):
        microkernels.header_path("mbmicro_nothing.h")
    assert microkernels.headers_included('#include "mbmicro_gemm.h"\n#include <stdint.h>\n') == ["mbmicro_gemm.h"]


def test_dsp_kernel_includes_and_calls_its_micro_kernel():
    graph, node, *_ = pw_case(np.random.default_rng(3), 6, 6, 20, 12, knob_pick=False)
    assert "dsp" in knob_space(graph, node, "cortex-m4")["micro"]
    k = lower_node(graph, node, "cortex-m4", {"micro": "dsp", "tile_p": 2, "tile_oc": 4})
    assert k.function.endswith("_t2x4dh") and k.headers == ("mbmicro_gemm.h",)
    assert k.source.startswith('#include <stdint.h>\n#include "mbmicro_gemm.h"\n')
    assert "mbmicro_gemm_dsp_2x4(" in k.source
    clear_cache()  # lowered again from scratch (intrinsic already registered): the same C
    assert lower_node(graph, node, "cortex-m4", {"micro": "dsp", "tile_p": 2, "tile_oc": 4}).source == k.source
    plain = lower_node(graph, node, "cortex-m4", {"micro": "none", "tile_p": 2, "tile_oc": 4})
    assert plain.headers == () and "mbmicro_gemm" not in plain.source and plain.function.endswith("_t2x4")


def _force_dsp(graph, node, target, knobs):
    if node.op in ("conv2d", "fully_connected") and "micro" in knob_space(graph, node, target):
        knobs = {**(knobs or {}), "micro": "dsp"}
    return lower_node(graph, node, target, knobs)


def test_build_folder_copies_the_header_and_verifies(tmp_path):
    """A one-pointwise-layer graph built for the M4 with the DSP micro-kernel: the header is
    in the folder and in build.json, the kernels include it, and verify is bit-exact in QEMU."""
    graph, *_ = pw_case(np.random.default_rng(4), 5, 7, 36, 20, knob_pick=False)
    out = tmp_path / "b"
    build_project(graph, load_target("cortex-m4"), out, prefix="m", force=False, info={"model": "pw", "options": {}},
                  lower=_force_dsp)
    assert (out / "model" / "mbmicro_gemm.h").read_text() == microkernels.header_path("mbmicro_gemm.h").read_text()
    assert "model/mbmicro_gemm.h" in json.loads((out / "build.json").read_text())["files"]
    assert '#include "mbmicro_gemm.h"' in (out / "model" / "m_kernels.c").read_text()
    assert main(["verify", str(out), "--count", "1"]) == 0


@BATCHES
@given(shapes=SHAPES)
def test_gemm_twin_on_host(shapes):
    run_cases(dsp_cases(shapes))


@pytest.mark.parametrize("core", ["cortex-m4", "cortex-m7"])
@BATCHES
@given(shapes=SHAPES)
def test_gemm_dsp_in_qemu(core, shapes):
    run_cases_qemu(dsp_cases(shapes), core)


def test_hi32_identity_and_its_preconditions():
    """requantize_hi32's formula, in NumPy int64, equals the rule on edge and random values
    for every shift it is used with; hi32_applies refuses shift 32 and int32 overflow."""
    rng = np.random.default_rng(11)
    acc = np.concatenate([rng.integers(-(1 << 31), 1 << 31, 4000), [-(1 << 31), (1 << 31) - 1, -1, 0, 1]])
    for s in range(33, 63):
        m = np.concatenate([rng.integers(1 << 30, 1 << 31, acc.size - 3), [1 << 30, (1 << 31) - 1, 0]])
        fast = (((acc * m) >> 32) + (1 << (s - 33))) >> (s - 32)
        assert np.array_equal(fast, requantize(acc, m, s)), s
    assert cm.hi32_applies([5, -7], [33, 62], 100)
    assert not cm.hi32_applies([5], [32], 100) and not cm.hi32_applies([5], [63], 100)
    assert not cm.hi32_applies([(1 << 31) - 1000], [40], 1)


def test_requantization_path_in_the_tag():
    """Small scales take the 32-bit path ("dh"); a scale near 1 (shift < 33) keeps the
    64-bit rule ("d"); both bit-exact on the host twin."""
    small = pw_case(np.random.default_rng(12), 4, 4, 24, 8, knob_pick=False)
    wide = pw_case(np.random.default_rng(13), 4, 4, 24, 8, knob_pick=False, scales=(0.5, 0.9))
    knobs = {"micro": "dsp", "tile_p": 2, "tile_oc": 2, "unroll": 1}
    assert lower_node(small[0], small[1], "host", knobs).function.endswith("_t2x2dh")
    wide_kernel = lower_node(wide[0], wide[1], "host", knobs)
    assert wide_kernel.function.endswith("_t2x2d") and ">> (int64_t)32" not in wide_kernel.source
    run_cases([(g, n, f, knobs, ref) for g, n, f, _, ref in (small, wide)])


def test_dsp_is_the_default_on_m4_and_m7_only():
    graph, node, *_ = pw_case(np.random.default_rng(14), 12, 12, 96, 24, knob_pick=False)
    narrow, nnode, *_ = pw_case(np.random.default_rng(15), 12, 12, 16, 96, knob_pick=False)
    for core in ("cortex-m4", "cortex-m7"):
        assert lower_node(graph, node, core).knobs == {"tile_p": 2, "tile_oc": 2, "unroll": 1, "micro": "dsp"}
        assert lower_node(narrow, nnode, core).function.endswith("_t4x1dh")
    fc, fnode, *_ = fc_case(np.random.default_rng(16), 200, 10, knob_pick=False)
    assert lower_node(fc, fnode, "cortex-m4").function.endswith("_t1x4dh")
    for core in ("cortex-m55", "cortex-a53", "host"):  # Helium's and NEON's (test_kernels_mve, test_neon_pw)
        assert lower_node(graph, node, core).knobs["micro"] != "dsp"


def test_qemu_harness_reports_a_wrong_kernel():
    graph, node, feeds, knobs, ref = pw_case(np.random.default_rng(8), 3, 3, 9, 5)
    wrong = ref.copy()
    wrong.reshape(-1)[4] ^= 1
    with pytest.raises(AssertionError, match="1 kernels differ from the reference on cortex-m4: \\['mbk_pw"):
        run_cases_qemu([(graph, node, feeds, {**knobs, "micro": "dsp"}, wrong)], "cortex-m4")
