"""The SMLAD conv2d kernel's intrinsics path (__ARM_FEATURE_DSP, mbmicro_conv.h) in QEMU.

The 200 seeded shapes of test_kernels_conv_dsp (stems, 5x5 and 3x3 convs on few
channels, strided 1x1 convs; every tile; both requantization forms, TFLite's rule) are
lowered for the Cortex-M4 and the Cortex-M7, each core's cases built into one firmware
(tests/qemu_kernel_harness.py) and compared bit for bit with mbmicro.reference.int8.
A last check counts instructions of the default M4 kernel on MobileNetV2 0.35/96's stem
(96x96x3 -> 48x48x16, clamp = the int8 range as in the models): the scalar schedule took
4.98 instructions per MAC, CMSIS-NN's arm_convolve_s8 4.77 on the same shape
(benchmarks/results/cmsis_nn.json); the DSP kernel must stay at or below 1.7 (measured 1.61).
"""

import numpy as np
import pytest

from qemu_kernel_harness import run_cases_qemu
from mbmicro.reference import int8 as R
from test_kernels_conv import conv_case
from test_kernels_conv_dsp import drawn, dsp_cases


@pytest.mark.parametrize("core", ["cortex-m4", "cortex-m7"])
def test_dsp_conv_200_shapes_bit_exact_in_qemu(core):
    run_cases_qemu(dsp_cases(drawn(200, 9)), core)


def test_default_m4_stem_at_most_1_7_instructions_per_mac():
    graph, node, feeds, _, _ = conv_case(np.random.default_rng(12), 96, 96, 3, 16, 3, 2, 1, knob_pick=False)
    node.attrs["act_min"], node.attrs["act_max"] = -128, 127  # the models' stems clamp to the int8 range
    ref = R.run_node(graph, node, [feeds["x"]])
    (count,) = run_cases_qemu([(graph, node, feeds, None, ref)], "cortex-m4", count=True)
    assert count / (48 * 48 * 27 * 16) <= 1.7, count / (48 * 48 * 27 * 16)
