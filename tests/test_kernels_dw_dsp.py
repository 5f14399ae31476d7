"""The DSP depthwise kernel (knob micro = "dsp", codegen/ops/depthwise_dsp.py) on host.

The host build compiles the portable twin of mbmicro_depthwise.h; every output is
compared bit for bit with mbmicro.reference.int8.  200 seeded shapes (kernels 3/5/7/9,
stride 1/2, any channel count, random zero points, clamps and multipliers) plus cases
whose constants rule out the 32-bit requantization (shift < 32, TFLite's rule), so
both requantization forms of the kernel run.  The intrinsics path runs in QEMU
(tests/test_kernels_dw_dsp_qemu.py).
"""

import dataclasses

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
    """Default rule, shifts 32..40, random zero points and clamps: every case runs the
    whole-channel kernel with one shift for all channels (s' = max(33, max s), tag dspcs<s'-32>)."""
    rng = np.random.default_rng(2024)
    cases = [dsp_case(rng, *dsp_shape(rng, i)) for i in range(200)]
    names = _names(cases)
    for (_, node, *_), n in zip(cases, names):
        assert f"_dspcs{max(33, int(node.params['shift'].max())) - 32}" in n, n
    clamped = ["a" in n.split("_dspc")[1] for n in names]
    assert any(clamped) and not all(clamped)  # literal bounds and the full range (one SSAT)
    run_cases(cases)


def spread_case(rng, i: int):
    """Per-channel shifts 33..50 (a spread beyond the pre-scale's 8): each channel keeps its own
    shift (tag dspc without a common one)."""
    graph, node, feeds, _, _ = dsp_case(rng, *dsp_shape(rng, i))
    c = node.params["weight"].shape[2]
    node.params["shift"] = np.where(np.arange(c) % 2 == 0, 33, rng.integers(42, 51, c)).astype(np.int32)
    if c == 1:
        node.params["shift"] = np.array([50], np.int32)  # one channel: one shift anyway
    return graph, node, feeds, DSP, R.run_node(graph, node, [feeds["x"]])


def test_channel_kernel_per_channel_shifts():
    rng = np.random.default_rng(79)
    cases = [spread_case(rng, i) for i in range(12)]
    names = _names(cases)
    for (_, node, *_), n in zip(cases, names):
        spread = int(np.ptp(node.params["shift"])) > 8
        assert ("_dspcs" not in n) == spread and "_dspc" in n, n
    assert sum("_dspcs" not in n for n in names) >= 8
    run_cases(cases)


def test_dsp_band_kernel_int64_requantization_and_tflite_rule():
    """Shifts below 33 take the channel kernel with a pre-scale to the common shift 33 (e = 33 - s);
    TFLite's rule keeps the band kernel with its int64 requantization in TIR."""
    rng = np.random.default_rng(77)
    cases = [dsp_case(rng, *dsp_shape(rng, i), big_scale=True) for i in range(16)]
    for i in range(16):
        graph, node, feeds, knobs, _ = dsp_case(rng, *dsp_shape(rng, i))
        graph.meta["requant"] = "tflite"
        cases.append((graph, node, feeds, knobs, R.run_node(graph, node, [feeds["x"]])))
    names = _names(cases)
    for (_, node, *_), n in zip(cases[:16], names):
        assert node.params["shift"].max() < 33 and "_dspcs1" in n, n
    assert all(n.endswith("_dsp") and "qt_dsp" in n for n in names[16:]), names[16:]
    run_cases(cases)


def fallback_case(rng, i: int):
    """Shift 62 with output zero point 100: y_zp * 2^30 leaves int32, so the channel kernel's
    folded rounding term cannot hold it (the band kernel's 32-bit TIR form runs instead)."""
    graph, node, feeds, _, _ = dsp_case(rng, *dsp_shape(rng, i))
    c = node.params["weight"].shape[2]
    node.params["multiplier"] = np.full(c, 1 << 30, np.int32)
    node.params["shift"] = np.full(c, 62, np.int32)
    y = node.outputs[0]
    graph.tensors[y] = dataclasses.replace(graph.tensors[y], zero_point=100)
    node.attrs["act_min"], node.attrs["act_max"] = -128, 127
    return graph, node, feeds, DSP, R.run_node(graph, node, [feeds["x"]])


def test_channel_kernel_falls_back_when_folded_terms_may_overflow():
    rng = np.random.default_rng(78)
    cases = [fallback_case(rng, i) for i in range(8)]
    names = _names(cases)
    assert all(n.endswith("_dsph") for n in names), names
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
    """The channel kernel (32-bit requantization) needs only the band as scratch, and its
    weights are the scalar schedule's int8 bytes, one channel's K x K contiguous."""
    rng = np.random.default_rng(4)
    graph, node, *_ = dw_case(rng, 96, 96, 8, 7, 1, knob_pick=False)
    k = lower_node(graph, node, "cortex-m4", DSP)
    assert "_dspc" in k.function
    assert 0 < k.scratch_bytes <= dsp.BAND_LIMIT  # band: 14 rows x 103 int16
    w = next(a.value for a in k.args if a.name == "w")
    scalar = lower_node(graph, node, "cortex-m4", {"micro": "none"})
    w_scalar = next(a.value for a in scalar.args if a.name == "w")
    assert w.dtype == np.int8 and np.array_equal(w, np.transpose(w_scalar, (2, 0, 1)))
    assert '#include "mbmicro_depthwise.h"' in k.source and "mbmicro_dw_dsp_channel(" in k.source


def test_band_rows_divide_the_output_and_fit():
    assert dsp.band_rows(24, 3, 1, 27) == 24
    assert dsp.band_rows(24, 3, 2, 50) == 12  # 25 rows x 50 x 2 B fit, 49 rows do not
    assert dsp.band_rows(7, 7, 1, 200) == 1
    for oh, k, s, cols in [(48, 3, 1, 51), (56, 5, 2, 116), (13, 3, 1, 16)]:
        r = dsp.band_rows(oh, k, s, cols)
        assert oh % r == 0 and ((r - 1) * s + k) * cols * 2 <= dsp.BAND_LIMIT


@pytest.mark.parametrize("target,micro", [("cortex-m4", "dsp"), ("cortex-m7", "dsp"), ("cortex-m55", "mve"),
                                          ("cortex-a53", "none"), ("host", "none")])
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
