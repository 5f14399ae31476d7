"""The DSP depthwise kernel's intrinsics path (SMLAD, __ARM_FEATURE_DSP) in QEMU.

200 seeded shapes (kernels 3/5/7/9, stride 1/2, 1-40 channels, random zero points,
clamps and multipliers; 16 of them with shifts below 32 (the channel kernel's pre-scale),
8 with per-channel shifts too far apart for one common shift, 8 whose folded terms overflow (the band kernel's 32-bit form) and 16 on TFLite's rule (its
int64 form), so every path runs) are lowered for the Cortex-M4, built into one firmware
(tests/qemu_kernel_harness.py) and compared bit for bit with mbmicro.reference.int8.  The
Cortex-M7 compiles the same C with other flags: it runs a covering sample of them (each
kind x kernel size x stride once, and every fourth case: 80), not all 200 again.
A last check counts instructions: the default M4 kernel of the CMSIS-NN 3x3 layer shape stays at or below 0.8x CMSIS-NN's 8.64
instructions per MAC (simulators.md); another that the 3x3 stride-2 layers of MobileNetV2
stay at or below 0.8x CMSIS-NN's instructions and estimated cycles on the M4 (the figures of
benchmarks/results/cmsis_nn.md).
"""

import numpy as np
import pytest

from kernel_harness import covering_sample
from qemu_kernel_harness import run_cases_qemu
from mbmicro.reference import int8 as R
from test_kernels_dw_dsp import dsp_case, dsp_shape, fallback_case, spread_case
from test_kernels_dw import dw_case


def _cases() -> tuple[list, list]:
    """The 200 cases and each one's variant: (kind, kernel size, stride)."""
    rng = np.random.default_rng(31337)
    cases = [dsp_case(rng, *dsp_shape(rng, i), big_scale=i < 16) for i in range(168)]
    kinds = ["big" if i < 16 else "plain" for i in range(168)]
    cases += [spread_case(rng, i) for i in range(8)]  # per-channel shifts
    cases += [fallback_case(rng, i) for i in range(8)]  # the band kernel's 32-bit form
    kinds += ["spread"] * 8 + ["fallback"] * 8
    for i in range(16):
        graph, node, feeds, knobs, _ = dsp_case(rng, *dsp_shape(rng, i))
        graph.meta["requant"] = "tflite"
        cases.append((graph, node, feeds, knobs, R.run_node(graph, node, [feeds["x"]])))
    kinds += ["tflite"] * 16
    sizes = [(i % 4, (i // 4) % 2) for i in range(168)] + [(i % 4, (i // 4) % 2) for i in (*range(8), *range(8),
                                                                                          *range(16))]
    return cases, [(k, *ks) for k, ks in zip(kinds, sizes)]


def test_dsp_band_kernel_200_shapes_bit_exact_in_qemu_m4():
    run_cases_qemu(_cases()[0], "cortex-m4")


def test_dsp_band_kernel_bit_exact_in_qemu_m7_every_variant():
    """The M7 runs the same C: every variant of the 200 (each kind x kernel size x stride) and
    every fourth case besides (80 cases)."""
    cases, keys = _cases()
    sample = covering_sample(cases, keys, 4)
    assert len(set(keys)) == 40 and len(sample) == 80, (len(set(keys)), len(sample))
    run_cases_qemu(sample, "cortex-m7")


def test_default_m4_kernel_beats_cmsis_nn_on_its_3x3_shape():
    rng = np.random.default_rng(12)
    graph, node, feeds, _, ref = dw_case(rng, 24, 24, 96, 3, 1, knob_pick=False)
    (count,) = run_cases_qemu([(graph, node, feeds, None, ref)], "cortex-m4", count=True)
    macs = 24 * 24 * 96 * 9
    assert count / macs <= 0.8 * 8.64, count / macs


#: CMSIS-NN (arm_depthwise_conv_3x3_s8) on the Cortex-M4, benchmarks/results/cmsis_nn.md:
#: (H, C) of a 3x3 stride-2 layer -> (instructions, estimated cycles) per MAC
CMSIS_M4_3X3_S2 = {(24, 48): (8.08, 10.48), (6, 576): (7.45, 9.61)}


def test_default_m4_kernel_3x3_stride2_within_0_8x_cmsis_nn_instructions_and_cycles():
    """The stride-2 3x3 shapes of MobileNetV2 (0.35/96 and 1.0/96): the small 6x6x576 one was
    0.93x CMSIS-NN in estimated cycles with the band kernel, the 24x24x48 one 0.83x."""
    rng = np.random.default_rng(13)
    shapes = list(CMSIS_M4_3X3_S2)
    cases = []
    for H, C in shapes:
        graph, node, feeds, _, ref = dw_case(rng, H, H, C, 3, 2, knob_pick=False)
        cases.append((graph, node, feeds, None, ref))
    found = run_cases_qemu(cases, "cortex-m4", count=True, cycles=True)
    for (H, C), (instructions, cycles) in zip(shapes, found):
        macs = (H // 2) ** 2 * C * 9
        cmsis_instr, cmsis_cycles = CMSIS_M4_3X3_S2[(H, C)]
        print(H, C, instructions / macs, cycles / macs)
        assert instructions / macs <= 0.8 * cmsis_instr, (H, C, instructions / macs)
        assert cycles / macs <= 0.8 * cmsis_cycles, (H, C, cycles / macs)
