"""The SMLAD conv2d kernel's intrinsics path (__ARM_FEATURE_DSP, mbmicro_conv.h) in QEMU.

The 200 seeded shapes of test_kernels_conv_dsp (stems, 5x5 and 3x3 convs on few
channels, strided 1x1 convs; every tile; both requantization forms, TFLite's rule) are
lowered for the Cortex-M4, built into one firmware (tests/qemu_kernel_harness.py) and
compared bit for bit with mbmicro.reference.int8; the Cortex-M7, the same C with other
flags, runs a covering sample (each kind x tile x scale form x rule once, every fourth draw).
A last check counts instructions of the default M4 kernel on MobileNetV2 0.35/96's stem
(96x96x3 -> 48x48x16, clamp = the int8 range as in the models): the scalar schedule took
4.98 instructions per MAC, CMSIS-NN's arm_convolve_s8 4.77 on the same shape
(benchmarks/results/cmsis_nn.json); the DSP kernel must stay at or below 1.7 (measured 1.61).
"""

import numpy as np

from kernel_harness import covering_sample
from qemu_kernel_harness import run_cases_qemu
from mbmicro.reference import int8 as R
from test_kernels_conv import conv_case
from test_kernels_conv_dsp import drawn, dsp_cases


def test_dsp_conv_200_shapes_bit_exact_in_qemu_m4():
    run_cases_qemu(dsp_cases(drawn(200, 9)), "cortex-m4")


def test_dsp_conv_bit_exact_in_qemu_m7_every_variant():
    """The M7 runs the same C: every variant of the 200 draws (kind x tile x scale form x
    rule: 60) once and every fourth draw besides (94 cases)."""
    draws = drawn(200, 9)
    cases = dsp_cases(draws)
    keys = [(d[0], c[3]["dsp_tile"], d[5], d[6]) for d, c in zip(draws, cases)]
    sample = covering_sample(cases, keys, 4)
    assert len(set(keys)) == 60 and len(sample) == 94, (len(set(keys)), len(sample))
    run_cases_qemu(sample, "cortex-m7")


def test_default_m4_stem_at_most_1_7_instructions_per_mac():
    graph, node, feeds, _, _ = conv_case(np.random.default_rng(12), 96, 96, 3, 16, 3, 2, 1, knob_pick=False)
    node.attrs["act_min"], node.attrs["act_max"] = -128, 127  # the models' stems clamp to the int8 range
    ref = R.run_node(graph, node, [feeds["x"]])
    (count,) = run_cases_qemu([(graph, node, feeds, None, ref)], "cortex-m4", count=True)
    assert count / (48 * 48 * 27 * 16) <= 1.7, count / (48 * 48 * 27 * 16)
