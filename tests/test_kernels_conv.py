"""General conv2d kernels (stem 3x3/s2 on 3 channels, grouped and strided 1x1,
other small kernels) vs mbmicro.reference.int8.conv2d, bit for bit, on 200 seeded
shapes with random knobs."""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from kernel_harness import (random_act, random_int8, random_knobs, random_requant, run_cases,
                            single_node_graph, tensor)
from mbmicro.reference import int8 as R
from mbmicro.codegen.kernels import lower_node
from mbmicro.graph.ir import conv_out_size, same_padding


def conv_case(rng, H, W, I, O, K, S, G, knob_pick=True):
    xzp, yzp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    (pt, pb), (pl, pr) = same_padding(H, K, S), same_padding(W, K, S)
    pad = (pt, pl, pb, pr)
    x = tensor("x", (1, H, W, I), xzp)
    y = tensor("y", (1, conv_out_size(H, S), conv_out_size(W, S), O), yzp)
    w = random_int8(rng, (O, K, K, I // G), -127, 127)
    bias = rng.integers(-20000, 20000, O).astype(np.int32)
    m, s = random_requant(rng, O, 1e-4, 0.05)
    lo, hi = random_act(rng, yzp)
    graph, node = single_node_graph("conv2d", [x], y, attrs=dict(kernel=(K, K), stride=S, pad=pad, groups=G,
                                    act_min=lo, act_max=hi), params=dict(weight=w, bias=bias, multiplier=m, shift=s))
    xv = random_int8(rng, (1, H, W, I))
    ref = R.conv2d(xv, w, bias, m, s, x_zp=xzp, y_zp=yzp, stride=S, pad=pad, groups=G, act_min=lo, act_max=hi)
    knobs = random_knobs(rng, graph, node, knob_pick)
    return graph, node, {"x": xv}, knobs, ref


def _random_shape(rng, i):
    kind = i % 4
    H, W = int(rng.integers(1, 18)), int(rng.integers(1, 18))
    if kind == 0:  # stem
        return H, W, 3, int(rng.integers(1, 40)), 3, 2, 1
    if kind == 1:  # grouped 1x1 (up to ops.DENSE_GROUPS_MAX groups: the pointwise GEMM on dense weights)
        G = int(rng.integers(2, 9))
        return H, W, G * int(rng.integers(1, 9)), G * int(rng.integers(1, 9)), 1, 1, G
    if kind == 2:  # strided 1x1
        return H, W, int(rng.integers(1, 30)), int(rng.integers(1, 30)), 1, 2, 1
    return H, W, int(rng.integers(1, 8)), int(rng.integers(1, 20)), int(rng.choice([3, 5])), int(rng.choice([1, 2])), 1


def test_conv2d_200_seeded_shapes():
    rng = np.random.default_rng(4321)
    run_cases([conv_case(rng, *_random_shape(rng, i)) for i in range(200)])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(H=st.integers(1, 20), W=st.integers(1, 20), O=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_stem_hypothesis(H, W, O, seed):
    run_cases([conv_case(np.random.default_rng(seed), H, W, 3, O, 3, 2, 1)])


def test_stem_name_and_unrolled_reduction():
    graph, node, *_ = conv_case(np.random.default_rng(0), 96, 96, 3, 32, 3, 2, 1, knob_pick=False)
    k = lower_node(graph, node, "host")
    assert k.function.startswith("mbk_cv_h96w96c3o32k3x3s2g1p")
    assert "for (int32_t ci" not in k.source and "for (int32_t kh" not in k.source
    assert [a.name for a in k.args] == ["x", "w", "bias", "mult", "shift", "x_zp", "y_zp", "act_min", "act_max", "y"]
