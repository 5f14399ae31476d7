"""Depthwise kernels vs mbmicro.reference.int8.depthwise, bit for bit.

A fixed seeded list of 200 shapes (odd sizes, kernels 3/5/7/9, stride 1/2,
channel counts not multiples of 4/8, random zero points and multipliers,
narrow clamps for saturation) is lowered with random knobs, compiled into
one .so and run; hypothesis adds shrinkable single cases.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kernel_harness import (random_act, random_int8, random_knobs, random_requant, run_cases,
                            single_node_graph, tensor)
from mbmicro.reference import int8 as R
from mbmicro.codegen.kernels import knob_space
from mbmicro.graph.ir import conv_out_size, same_padding


def dw_case(rng, H, W, C, K, S, knob_pick=True):
    xzp, yzp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    pad = (*same_padding(H, K, S)[:1], *same_padding(W, K, S)[:1],
           same_padding(H, K, S)[1], same_padding(W, K, S)[1])
    x = tensor("x", (1, H, W, C), xzp)
    y = tensor("y", (1, conv_out_size(H, S), conv_out_size(W, S), C), yzp)
    w = random_int8(rng, (K, K, C), -127, 127)
    bias = rng.integers(-20000, 20000, C).astype(np.int32)
    m, s = random_requant(rng, C, 1e-3, 0.3)
    lo, hi = random_act(rng, yzp)
    graph, node = single_node_graph("depthwise", [x], y, attrs=dict(kernel=(K, K), stride=S, pad=pad,
                                    act_min=lo, act_max=hi), params=dict(weight=w, bias=bias, multiplier=m, shift=s))
    xv = random_int8(rng, (1, H, W, C))
    ref = R.depthwise(xv, w, bias, m, s, x_zp=xzp, y_zp=yzp, stride=S, pad=pad, act_min=lo, act_max=hi)
    knobs = random_knobs(rng, graph, node, knob_pick)
    return graph, node, {"x": xv}, knobs, ref


def test_depthwise_200_seeded_shapes():
    rng = np.random.default_rng(1234)
    cases = []
    for i in range(200):
        K = (3, 5, 7, 9)[i % 4]
        S = 1 + (i // 4) % 2
        H, W = int(rng.integers(1, 16)), int(rng.integers(1, 16))
        C = int(rng.integers(1, 37))
        cases.append(dw_case(rng, H, W, C, K, S))
    run_cases(cases)


def test_depthwise_mobilenet_like_shapes_with_defaults():
    rng = np.random.default_rng(7)
    shapes = [(24, 24, 96, 3, 1), (48, 48, 16, 3, 2), (7, 7, 160, 5, 1), (14, 14, 120, 5, 2)]
    run_cases([dw_case(rng, *s, knob_pick=False) for s in shapes])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(H=st.integers(1, 12), W=st.integers(1, 12), C=st.integers(1, 24), K=st.sampled_from([3, 5, 7, 9]),
       S=st.sampled_from([1, 2]), seed=st.integers(0, 2**32 - 1))
def test_depthwise_hypothesis(H, W, C, K, S, seed):
    run_cases([dw_case(np.random.default_rng(seed), H, W, C, K, S)])


def test_tile_mode_uses_bounded_scratch():
    rng = np.random.default_rng(3)
    case = dw_case(rng, 40, 40, 32, 3, 1, knob_pick=False)
    from mbmicro.codegen.kernels import lower_node
    k = lower_node(case[0], case[1], "cortex-m4", {"pad_mode": "tile", "c_block": 8, "micro": "none"})
    assert 0 < k.scratch_bytes <= 4096
    assert "xpad" in k.source
    run_cases([case[:3] + ({"pad_mode": "tile", "c_block": 8}, case[4])])


@pytest.mark.parametrize("target,expected_block", [("host", 16), ("cortex-m4", 4), ("cortex-m55", 4),
                                                   ("cortex-a53", 16)])
def test_defaults_differ_by_target_and_are_in_space(target, expected_block):
    rng = np.random.default_rng(5)
    graph, node, *_ = dw_case(rng, 12, 12, 64, 3, 1, knob_pick=False)
    space = knob_space(graph, node, target)
    assert set(space) == {"c_block", "unroll_taps", "pad_mode", "vec_c", "micro"}
    # the first value of each list is the target default
    assert space["c_block"][0] == expected_block
    # micro-kernels, the default first: SMLAD on the M4/M7, Helium on the M55, NEON on the
    # A53; the host offers every C twin; the DSP kernel is offered wherever its int32 guard
    # holds (the A53 and M55 compile its portable twin or the DSP path), Helium only on M55
    # and host, NEON only on A53 and host
    assert space["micro"] == {"cortex-m4": ["dsp", "none"], "cortex-m55": ["mve", "none", "dsp"],
                              "host": ["none", "dsp", "neon", "mve"], "cortex-a53": ["neon", "none", "dsp"]}[target]


def test_vec_c_keeps_a_rolled_channel_loop_and_is_sampled():
    """vec_c=1 must leave the channel loop rolled (for gcc's vectorizer) and
    give a distinct kernel name; the seeded batch must draw both values."""
    rng = np.random.default_rng(11)
    graph, node, feeds, _, ref = dw_case(rng, 9, 9, 40, 3, 1, knob_pick=False)
    from mbmicro.codegen.kernels import lower_node
    kn = {"pad_mode": "tile", "c_block": 16, "vec_c": 1, "micro": "none"}  # the A53 default is "neon"
    vec = lower_node(graph, node, "cortex-a53", kn)
    flat = lower_node(graph, node, "cortex-a53", dict(kn, vec_c=0))
    assert vec.function != flat.function and vec.function.endswith("v")
    assert "< 16; ++" in vec.source and "acc_ptr[15]" not in vec.source
    assert "acc_ptr[15]" in flat.source
    assert lower_node(graph, node, "cortex-a53").knobs["vec_c"] == 1
    assert lower_node(graph, node, "cortex-m4").knobs["vec_c"] == 0
    run_cases([(graph, node, feeds, kn, ref), (graph, node, feeds, dict(kn, pad_mode="branch"), ref)])
    drawn = np.random.default_rng(1234)
    seen = {dw_case(drawn, 5, 5, 8, 3, 1)[3]["vec_c"] for _ in range(12)}
    assert seen == {0, 1}
