"""Pointwise (1x1) and fully-connected kernels vs mbmicro.reference.int8, bit for bit,
on 200+ seeded shapes (pixel and channel counts not multiples of the tile)."""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from kernel_harness import (random_act, random_int8, random_knobs, random_requant, run_cases,
                            single_node_graph, tensor)
from mbmicro.reference import int8 as R
from mbmicro.codegen.kernels import lower_node
from mbmicro.codegen.ops import DENSE_GROUPS_MAX, plan_for
from mbmicro.codegen.ops.pointwise import dense_weight


def pw_case(rng, H, W, C, K, knob_pick=True, scales=(1e-4, 0.05), groups=1):
    xzp, yzp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    x, y = tensor("x", (1, H, W, C), xzp), tensor("y", (1, H, W, K), yzp)
    w = random_int8(rng, (K, 1, 1, C // groups), -127, 127)
    bias = rng.integers(-20000, 20000, K).astype(np.int32)
    m, s = random_requant(rng, K, *scales)
    lo, hi = random_act(rng, yzp)
    graph, node = single_node_graph("conv2d", [x], y, attrs=dict(kernel=(1, 1), stride=1, pad=(0, 0, 0, 0),
                                    groups=groups, act_min=lo, act_max=hi),
                                    params=dict(weight=w, bias=bias, multiplier=m, shift=s))
    xv = random_int8(rng, (1, H, W, C))
    ref = R.conv2d(xv, w, bias, m, s, x_zp=xzp, y_zp=yzp, stride=1, pad=(0, 0, 0, 0), groups=groups,
                   act_min=lo, act_max=hi)
    return graph, node, {"x": xv}, random_knobs(rng, graph, node, knob_pick), ref


def fc_case(rng, C, N, knob_pick=True):
    xzp, yzp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    x, y = tensor("x", (1, 1, 1, C), xzp), tensor("y", (1, 1, 1, N), yzp)
    w = random_int8(rng, (N, C), -127, 127)
    bias = rng.integers(-20000, 20000, N).astype(np.int32)
    m, s = random_requant(rng, N, 1e-4, 0.05)
    lo, hi = random_act(rng, yzp)
    graph, node = single_node_graph("fully_connected", [x], y, attrs=dict(act_min=lo, act_max=hi),
                                    params=dict(weight=w, bias=bias, multiplier=m, shift=s))
    xv = random_int8(rng, (1, 1, 1, C))
    ref = R.fully_connected(xv, w, bias, m, s, x_zp=xzp, y_zp=yzp, act_min=lo, act_max=hi)
    return graph, node, {"x": xv}, random_knobs(rng, graph, node, knob_pick), ref


def test_pointwise_200_seeded_shapes():
    rng = np.random.default_rng(99)
    cases = [pw_case(rng, int(rng.integers(1, 14)), int(rng.integers(1, 14)), int(rng.integers(1, 70)),
                     int(rng.integers(1, 70))) for _ in range(200)]
    run_cases(cases)


def test_grouped_pointwise_seeded_shapes():
    """A 1x1 conv of 2..DENSE_GROUPS_MAX groups runs as the pointwise GEMM on block-diagonal
    dense weights (ops/pointwise.dense_weight): bit-exact with the grouped reference."""
    rng = np.random.default_rng(98)
    cases = []
    for _ in range(40):
        g = int(rng.integers(2, DENSE_GROUPS_MAX + 1))
        cases.append(pw_case(rng, int(rng.integers(1, 10)), int(rng.integers(1, 10)), g * int(rng.integers(1, 12)),
                             g * int(rng.integers(1, 12)), groups=g))
    run_cases(cases)


def test_grouped_pointwise_is_the_gemm_up_to_the_limit():
    rng = np.random.default_rng(97)
    for g, prefix in ((1, "pw"), (2, "pw"), (DENSE_GROUPS_MAX, "pw"), (DENSE_GROUPS_MAX + 1, "cv")):
        graph, node, *_ = pw_case(rng, 4, 4, 4 * g, 2 * g, knob_pick=False, groups=g)
        assert plan_for(graph, node, "host").prefix == prefix, (g, prefix)
    w = random_int8(rng, (6, 1, 1, 2), -127, 127)
    dense = dense_weight(w, 3)
    assert dense.shape == (6, 6)
    for k in range(6):
        g = k // 2
        assert np.array_equal(dense[k, 2 * g:2 * g + 2], w[k, 0, 0]) and not dense[k].sum() - w[k].sum()


def test_fully_connected_seeded_shapes():
    rng = np.random.default_rng(100)
    run_cases([fc_case(rng, int(rng.integers(1, 300)), int(rng.integers(1, 120))) for _ in range(40)])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(H=st.integers(1, 10), W=st.integers(1, 10), C=st.integers(1, 48), K=st.integers(1, 48),
       seed=st.integers(0, 2**32 - 1))
def test_pointwise_hypothesis(H, W, C, K, seed):
    run_cases([pw_case(np.random.default_rng(seed), H, W, C, K)])


def test_pointwise_register_tile_in_source():
    """The default host tile is 4 pixels x 8 channels, unrolled: 32 accumulators."""
    graph, node, *_ = pw_case(np.random.default_rng(1), 12, 12, 32, 192, knob_pick=False)
    k = lower_node(graph, node, "host")
    assert k.function == "mbk_pw_h12w12c32o192_t4x8"
    assert k.knobs == {"tile_p": 4, "tile_oc": 8, "unroll": 1, "micro": "none"}
    assert "int32_t acc_ptr[32];" in k.source and k.scratch_bytes == 128
    m4 = lower_node(graph, node, "cortex-m4")
    assert m4.knobs["tile_p"] * m4.knobs["tile_oc"] <= 8
