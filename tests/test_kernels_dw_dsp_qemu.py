"""The DSP depthwise kernel's intrinsics path (SMLAD, __ARM_FEATURE_DSP) in QEMU.

200 seeded shapes (kernels 3/5/7/9, stride 1/2, 1-40 channels, random zero points,
clamps and multipliers; 16 of them with shifts below 32 and 16 on TFLite's rule, so
both requantization forms run) are lowered for the Cortex-M4 and the Cortex-M7, each
core's cases built into one firmware (tests/qemu_kernel_harness.py) and compared bit
for bit with mbmicro.reference.int8.  A last check counts instructions: the default
M4 kernel of the CMSIS-NN 3x3 layer shape stays at or below 0.8x CMSIS-NN's 8.64
instructions per MAC (simulators.md).
"""

import numpy as np
import pytest

from qemu_kernel_harness import run_cases_qemu
from mbmicro.reference import int8 as R
from test_kernels_dw_dsp import dsp_case, dsp_shape
from test_kernels_dw import dw_case


def _cases():
    rng = np.random.default_rng(31337)
    cases = [dsp_case(rng, *dsp_shape(rng, i), big_scale=i < 16) for i in range(184)]
    for i in range(16):
        graph, node, feeds, knobs, _ = dsp_case(rng, *dsp_shape(rng, i))
        graph.meta["requant"] = "tflite"
        cases.append((graph, node, feeds, knobs, R.run_node(graph, node, [feeds["x"]])))
    return cases


@pytest.mark.parametrize("core", ["cortex-m4", "cortex-m7"])
def test_dsp_band_kernel_200_shapes_bit_exact_in_qemu(core):
    run_cases_qemu(_cases(), core)


def test_default_m4_kernel_beats_cmsis_nn_on_its_3x3_shape():
    rng = np.random.default_rng(12)
    graph, node, feeds, _, ref = dw_case(rng, 24, 24, 96, 3, 1, knob_pick=False)
    (count,) = run_cases_qemu([(graph, node, feeds, None, ref)], "cortex-m4", count=True)
    macs = 24 * 24 * 96 * 9
    assert count / macs <= 0.8 * 8.64, count / macs
