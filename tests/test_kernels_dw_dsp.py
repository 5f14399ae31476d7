"""The DSP depthwise kernel (knob micro = "dsp", codegen/ops/depthwise_dsp.py) on host.

The host build compiles the portable twin of mbmicro_depthwise.h; every output is
compared bit for bit with mbmicro.reference.int8.  200 seeded shapes (kernels 3/5/7/9,
stride 1/2, any channel count, random zero points, clamps and multipliers) plus cases
whose constants rule out the 32-bit requantization (shift < 32, TFLite's rule), so
both requantization forms of the kernel run.  The intrinsics path runs in QEMU
(tests/test_kernels_dw_dsp_qemu.py).
"""

import numpy as np
import pytest

from kernel_harness import random_requant, run_cases
from mbmicro.codegen.kernels import knob_space, lower_node
from mbmicro.codegen.ops import common as cm
from mbmicro.codegen.ops import depthwise_dsp as dsp
from mbmicro.reference import int8 as R
from test_kernels_dw import dw_case

DSP = {"micro": "dsp"}


def dsp_shape(rng, i: int) -> tuple[int, int, int, int, int]:
    """(H, W, C, K, S) with at least two outputs per row (the band kernel's domain)."""
    K = (3, 5, 7, 9)[i % 4]
    S = 1 + (i // 4) % 2
    return int(rng.integers(1, 17)), int(rng.integers(3, 17)), int(rng.integers(1, 41)), K, S


def dsp_case(rng, H, W, C, K, S, big_scale=False):
    case = dw_case(rng, H, W, C, K, S, knob_pick=False)
    graph, node = case[0], case[1]
    if big_scale:  # real scales 0.6-3: shifts below 32, the int64 requantization
        node.params["multiplier"], node.params["shift"] = random_requant(rng, C, 0.6, 3.0)
    ref = R.run_node(graph, node, [case[2]["x"]])
    return graph, node, case[2], DSP, ref


def _names(cases) -> list[str]:
    return [lower_node(g, n, "host", k).function for g, n, _, k, _ in cases]


def test_dsp_band_kernel_200_seeded_shapes_bit_exact():
    rng = np.random.default_rng(2024)
    cases = [dsp_case(rng, *dsp_shape(rng, i)) for i in range(200)]
    names = _names(cases)
    high = [n.endswith("_dsph") for n in names]
    for (_, node, *_), h in zip(cases, high):  # the 32-bit form exactly where every shift allows it
        assert h == bool(node.params["shift"].min() >= cm.HI32_SHIFTS[0])
    assert sum(high) > 100
    run_cases(cases)


def test_dsp_band_kernel_int64_requantization_and_tflite_rule():
    rng = np.random.default_rng(77)
    cases = [dsp_case(rng, *dsp_shape(rng, i), big_scale=True) for i in range(16)]
    for i in range(16):
        graph, node, feeds, knobs, _ = dsp_case(rng, *dsp_shape(rng, i))
        graph.meta["requant"] = "tflite"
        cases.append((graph, node, feeds, knobs, R.run_node(graph, node, [feeds["x"]])))
    names = _names(cases)
    assert all(n.endswith("_dsp") for n in names), names
    assert all("qt_dsp" in n for n in names[16:])
    run_cases(cases)


def test_mobilenet_like_shapes():
    rng = np.random.default_rng(8)
    shapes = [(24, 24, 96, 3, 1), (48, 48, 16, 3, 2), (7, 7, 160, 5, 1), (14, 14, 120, 5, 2), (12, 12, 48, 7, 2)]
    run_cases([dsp_case(rng, *s) for s in shapes])


def test_band_kernel_domain():
    """dsp is offered only where the band kernel applies: square kernels up to 9, two
    outputs per row or more, a one-row band within the stack budget."""
    rng = np.random.default_rng(1)
    offered = {}
    for H, W, K, S in [(8, 8, 3, 1), (8, 1, 3, 1), (8, 2, 3, 2), (4, 700, 3, 1), (8, 8, 9, 2), (20, 20, 11, 1)]:
        graph, node, *_ = dw_case(rng, H, W, 4, K, S, knob_pick=False)
        offered[(H, W, K, S)] = "dsp" in knob_space(graph, node, "cortex-m4")["micro"]
    assert offered == {(8, 8, 3, 1): True, (8, 1, 3, 1): False, (8, 2, 3, 2): False, (4, 700, 3, 1): False,
                       (8, 8, 9, 2): True, (20, 20, 11, 1): False}


def test_band_fits_the_stack_budget_and_flash_keeps_int8_weights():
    rng = np.random.default_rng(4)
    graph, node, *_ = dw_case(rng, 96, 96, 8, 7, 1, knob_pick=False)
    k = lower_node(graph, node, "cortex-m4", DSP)
    # band (14 rows x 103 int16) + int16 weight pairs + one row of int32 accumulators
    assert 0 < k.scratch_bytes <= dsp.BAND_LIMIT + 7 * 8 * 2 + 4 * 96 + 4
    w = next(a.value for a in k.args if a.name == "w")
    scalar = lower_node(graph, node, "cortex-m4", {"micro": "none"})
    assert w.dtype == np.int8 and np.array_equal(w, next(a.value for a in scalar.args if a.name == "w"))
    assert '#include "mbmicro_depthwise.h"' in k.source and "mbmicro_dw_dsp_row(" in k.source


def test_band_rows_divide_the_output_and_fit():
    assert dsp.band_rows(24, 3, 1, 27) == 24
    assert dsp.band_rows(24, 3, 2, 50) == 12  # 25 rows x 50 x 2 B fit, 49 rows do not
    assert dsp.band_rows(7, 7, 1, 200) == 1
    for oh, k, s, cols in [(48, 3, 1, 51), (56, 5, 2, 116), (13, 3, 1, 16)]:
        r = dsp.band_rows(oh, k, s, cols)
        assert oh % r == 0 and ((r - 1) * s + k) * cols * 2 <= dsp.BAND_LIMIT


@pytest.mark.parametrize("target,micro", [("cortex-m4", "dsp"), ("cortex-m7", "dsp"), ("cortex-m55", "mve"),
                                          ("cortex-a53", "neon"), ("host", "none")])
def test_micro_defaults(target, micro):
    rng = np.random.default_rng(5)
    graph, node, *_ = dw_case(rng, 12, 12, 64, 3, 1, knob_pick=False)
    assert knob_space(graph, node, target)["micro"][0] == micro


def test_not_offered_when_accumulator_plus_bias_may_overflow_int32():
    """The kernel adds bias and accumulator in int32 (the reference in int64): a bias at the
    edge of int32 must keep the scalar schedule."""
    rng = np.random.default_rng(6)
    graph, node, *_ = dw_case(rng, 8, 8, 4, 3, 1, knob_pick=False)
    assert "dsp" in knob_space(graph, node, "cortex-m4")["micro"]
    # |acc + bias| may reach 2**31 on channel 1, yet the scalar kernel's folded bias still fits
    s1 = int(np.abs(node.params["weight"][:, :, 1].astype(np.int64)).sum())
    node.params["bias"] = np.array([0, (1 << 31) - 255 * s1, 0, 0], np.int32)
    assert knob_space(graph, node, "cortex-m4")["micro"] == ["none"]
