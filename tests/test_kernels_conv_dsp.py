"""The SMLAD conv2d kernel (knob micro = "dsp", codegen/ops/conv2d_dsp.py) on host.

The host build compiles the portable twin of mbmicro_conv.h; every output is compared
bit for bit with mbmicro.reference.int8.  200 seeded shapes (stems 3x3 s2 on 3 channels, 5x5 and 3x3 convs on 1-8 channels, strided 1x1 convs,
random sizes, SAME padding, every tile of the header, random zero points, clamps and
multipliers; some with shifts below 33 or TFLite's rule, so both requantization forms
run), and stems drawn by hypothesis with the M4's default knobs.  The intrinsics path runs in QEMU (tests/test_kernels_conv_dsp_qemu.py).
"""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from kernel_harness import random_requant, run_cases
from mbmicro.codegen.kernels import knob_space, lower_node
from mbmicro.codegen.ops import conv2d_dsp as dsp
from mbmicro.reference import int8 as R
from test_kernels_conv import conv_case

#: (I, K, S) families of the drawn shapes: the stem first
KINDS = [(3, 3, 2), (3, 5, 2), (8, 3, 1), (1, 5, 1), (24, 1, 2)]


def dsp_cases(draws) -> list:
    """One case per draw (kind, H, W, O, tile index, big_scale, tflite, seed); the tile
    cycles through those the shape offers."""
    cases = []
    for kind, H, W, O, t, big, tflite, s in draws:
        I, K, S = KINDS[kind]
        rng = np.random.default_rng(s)
        graph, node, feeds, _, _ = conv_case(rng, H, W, I, O, K, S, 1, knob_pick=False)
        if big:  # real scales 0.6-3: shifts below 33, the int64 requantization
            node.params["multiplier"], node.params["shift"] = random_requant(rng, O, 0.6, 3.0)
        if tflite:
            graph.meta["requant"] = "tflite"
        tiles = knob_space(graph, node, "host")["dsp_tile"]
        knobs = {"micro": "dsp", "dsp_tile": tiles[t % len(tiles)]}
        cases.append((graph, node, feeds, knobs, R.run_node(graph, node, [feeds["x"]])))
    return cases


def drawn(n: int, base: int) -> list[tuple]:
    """n seeded draws: every kind in turn, random sizes, tile, scale, rule and case seed."""
    rng = np.random.default_rng(base)
    return [(i % len(KINDS), int(rng.integers(1, 15)), int(rng.integers(2, 15)), int(rng.integers(4, 41)),
             int(rng.integers(0, 5)), bool(rng.random() < 0.2), bool(rng.random() < 0.1), int(rng.integers(0, 2**31)))
            for i in range(n)]


def test_dsp_conv_200_drawn_shapes_bit_exact_on_host():
    cases = dsp_cases(drawn(200, 9))
    sources = [lower_node(g, n, "host", k).source for g, n, _, k, _ in cases]
    hi32 = ["- 33)" in src for src in sources]  # requantize_hi32's
    sat = ["mbmicro_conv_sat8(" in src for src in sources]  # the full-range clamp
    assert sum(hi32) > 50 and len(hi32) - sum(hi32) > 20, sum(hi32)
    assert sum(sat) > 20 and len(sat) - sum(sat) > 50, sum(sat)
    run_cases(cases)


def test_defaults_per_core():
    """dsp is the default for the stem on the DSP cores and (its portable twin, tile 2x4) on the
    A53; the M55 keeps its Helium kernel."""
    graph, node, *_ = conv_case(np.random.default_rng(3), 96, 96, 3, 16, 3, 2, 1, knob_pick=False)
    node.attrs["act_min"], node.attrs["act_max"] = -128, 127  # as in the models: bounds become constants
    micro = {core: lower_node(graph, node, core).knobs["micro"]
             for core in ("cortex-m4", "cortex-m7", "cortex-m55", "cortex-a53", "host")}
    assert micro == {"cortex-m4": "dsp", "cortex-m7": "dsp", "cortex-m55": "mve", "cortex-a53": "dsp",
                     "host": "none"}
    assert lower_node(graph, node, "cortex-a53").knobs["dsp_tile"] == "2x4"
    k = lower_node(graph, node, "cortex-m4")
    assert k.function.endswith("_d4x2hf") and k.headers == ("mbmicro_conv.h",)
    assert [a.name for a in k.args] == ["x", "w", "bias", "mult", "shift", "x_zp", "y_zp", "y"]
    assert '#include "mbmicro_conv.h"' in k.source
    w = next(a for a in k.args if a.name == "w")
    assert w.ctype == "const int16_t *" and w.value.shape == (16 * 28,)
    assert np.array_equal(w.value.reshape(16, 28)[:, :27], node.params["weight"].reshape(16, 27))
    assert not w.value.reshape(16, 28)[:, 27].any()


def test_non_stem_convs_keep_the_scalar_default():
    graph, node, *_ = conv_case(np.random.default_rng(3), 12, 12, 24, 16, 1, 2, 1, knob_pick=False)
    assert "dsp" in knob_space(graph, node, "cortex-m4")["micro"]
    assert lower_node(graph, node, "cortex-m4").knobs["micro"] == "none"


def test_domain_grouped_and_oversized_convs_get_no_dsp():
    rng = np.random.default_rng(4)
    for H, W, I, O, K, S, G in [(8, 8, 8, 8, 1, 2, 2), (8, 8, 12, 8, 5, 1, 1), (8, 8, 3, 1, 3, 2, 1)]:
        graph, node, *_ = conv_case(rng, H, W, I, O, K, S, G, knob_pick=False)
        assert "dsp" not in knob_space(graph, node, "cortex-m4")["micro"], (H, W, I, O, K, S, G)
    assert dsp.tiles_for(3, 3, 3, 48, 800) == []  # 800 int32 accumulators: over the stack budget


def test_scratch_fits_the_stack_budget():
    for tile in dsp.TILES:
        assert dsp.scratch_bytes(tile, dsp.taps(3, 3, 3), 32) <= dsp.STACK_LIMIT


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(H=st.integers(1, 20), W=st.integers(4, 20), O=st.integers(4, 40), s=st.integers(0, 2**32 - 1))
def test_stem_default_m4_kernel_source_on_host(H, W, O, s):
    """The M4's default kernel source (its knobs), built by the host compiler (the twin)."""
    graph, node, feeds, _, ref = conv_case(np.random.default_rng(s), H, W, 3, O, 3, 2, 1, knob_pick=False)
    knobs = lower_node(graph, node, "cortex-m4").knobs
    run_cases([(graph, node, feeds, knobs, ref)])
