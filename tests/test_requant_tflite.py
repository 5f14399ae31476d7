"""TFLite's requantization rule (graph.meta["requant"] = "tflite").

The NumPy twin in mbmicro.reference.arith is checked against a literal,
scalar transcription of TFLite's C (gemmlowp SaturatingRoundingDoublingHighMul
with its nudge and truncating division, RoundingDivideByPOT with mask and
threshold, QuantizeMultiplier with frexp and std::round); then every kernel
family with its own requantization is lowered for "tflite" graphs on random
shapes and compared bit for bit with the reference of the same rule.
"""

import math

import numpy as np

from kernel_harness import random_int8, random_requant, run_cases, single_node_graph, tensor
from mbmicro.codegen.kernels import knob_space, lower_node
from mbmicro.reference import arith
from mbmicro.reference import int8 as R
from test_kernels_conv import _random_shape as conv_shape, conv_case
from test_kernels_dw import dw_case
from test_kernels_misc import misc_cases
from test_kernels_pw import pw_case

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def _c_div(a: int, b: int) -> int:
    """C integer division (truncates towards zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _c_div(ab + nudge, 1 << 31)


def _rdbp(x: int, e: int) -> int:
    mask = (1 << e) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if (x & mask) > threshold else 0)


def _wrap(x: int) -> int:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _mbqm(x: int, m: int, exponent: int) -> int:
    left, right = max(exponent, 0), max(-exponent, 0)
    return _rdbp(_srdhm(_wrap(x * (1 << left)), m), right)


def _quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: (significand, exponent)."""
    if real == 0:
        return 0, 0
    q, e = math.frexp(real)
    fixed = int(math.floor(q * (1 << 31) + 0.5))
    if fixed == 1 << 31:
        fixed //= 2
        e += 1
    if e < -31:
        return 0, 0
    return fixed, e


def test_primitives_match_the_literal_c():
    rng = np.random.default_rng(7)
    a = np.concatenate([rng.integers(INT32_MIN, INT32_MAX, 3000, dtype=np.int64),
                        rng.integers(-70000, 70000, 3000), [INT32_MIN, INT32_MAX, 0, -1, 1]])
    b = np.concatenate([rng.integers(0, INT32_MAX, 3000, dtype=np.int64),
                        rng.integers(INT32_MIN, INT32_MAX, 3000, dtype=np.int64), [INT32_MIN, 1 << 30, 0, 1, 1 << 30]])
    got = arith.saturating_rounding_doubling_high_mul(a, b)
    assert [int(v) for v in got] == [_srdhm(int(x), int(y)) for x, y in zip(a, b)]
    e = rng.integers(0, 31, a.size)
    got = arith.rounding_divide_by_pot(a, e)
    assert [int(v) for v in got] == [_rdbp(int(x), int(k)) for x, k in zip(a, e)]
    # ties: -2.5 -> -3 and 2.5 -> 3 (away from zero), unlike single rounding's -2
    assert list(arith.rounding_divide_by_pot(np.array([-5, 5, -3, 3]), 1)) == [-3, 3, -2, 2]


def test_requantize_tflite_matches_multiply_by_quantized_multiplier():
    rng = np.random.default_rng(8)
    reals = np.exp(rng.uniform(np.log(1e-6), np.log(300.0), 2000))
    acc = rng.integers(-(1 << 20), 1 << 20, reals.size)
    for real, x in zip(reals, acc):
        m, s = arith.quantize_multiplier_tflite(float(real))
        fixed, exponent = _quantize_multiplier(float(real))
        assert (m, 31 - s) == (fixed, exponent)
        assert int(arith.requantize_tflite(int(x), m, s)) == _mbqm(int(x), fixed, exponent)
    # the two rules differ on negative ties: -2 * 0.25 = -0.5
    assert int(arith.requantize(-2, 1 << 30, 32)) == 0
    assert int(arith.requantize_tflite(-2, 1 << 30, 32)) == -1


def test_quantize_multiplier_tflite_rounds_half_away_and_flushes_tiny_scales():
    half = (2**30 + 0.5) / 2**31  # significand exactly halfway between two int32 multipliers
    assert arith.quantize_multiplier_tflite(half) == (2**30 + 1, 31)
    assert arith.quantize_multiplier(half) == (2**30, 31)  # Python round: half to even
    assert arith.quantize_multiplier_tflite(2.0**-40) == (0, 31)
    assert arith.quantize_multiplier_tflite(0.0) == (0, 31)


def test_divide_round_away_is_c_rounding_division():
    v = np.arange(-40, 41)
    for n in (1, 2, 3, 4, 7, 49):
        want = [_c_div(x + n // 2, n) if x > 0 else _c_div(x - n // 2, n) for x in v]
        assert list(arith.divide_round_away(v, n)) == want


def test_unknown_rule_is_refused():
    graph, node, *_ = pw_case(np.random.default_rng(0), 2, 2, 4, 4, knob_pick=False)
    graph.meta["requant"] = "banker"
    try:
        R.run_node(graph, node, [np.zeros((1, 2, 2, 4), np.int8)])
    except ValueError as e:
        assert "banker" in str(e)
    else:
        raise AssertionError("unknown rule accepted")


def _tflite(case):
    """The same kernel case on a "tflite" graph, its reference recomputed with that rule.

    A TFLite add carries three multipliers and shifts (inputs, then output), where the
    default rule's add has two and one: it gets TFLite-style ones.  Knob values the
    TFLite graph does not offer (the Helium kernels are default-rule only) fall back to
    the plain schedule."""
    graph, node, feeds, knobs, *_ = case
    graph.meta["requant"] = "tflite"
    if node.op == "add":
        m, s = random_requant(np.random.default_rng(len(node.inputs) + feeds["a"].size), 3, 0.01, 0.6)
        node.params["multiplier"], node.params["shift"] = m, s
    if knobs:
        space = knob_space(graph, node, "host")
        knobs = {k: (v if v in space[k] else space[k][0]) for k, v in knobs.items() if k in space}
    ref = R.run_node(graph, node, [feeds[name] for name in node.inputs])
    return graph, node, feeds, knobs, ref


def test_weighted_kernels_follow_the_tflite_rule_on_random_shapes():
    rng = np.random.default_rng(99)
    cases = [_tflite(conv_case(rng, *conv_shape(rng, i))) for i in range(12)]
    for _ in range(12):
        cases.append(_tflite(dw_case(rng, int(rng.integers(1, 14)), int(rng.integers(1, 14)),
                                     int(rng.integers(1, 24)), int(rng.choice([3, 5])), int(rng.choice([1, 2])))))
        cases.append(_tflite(pw_case(rng, int(rng.integers(1, 9)), int(rng.integers(1, 9)),
                                     int(rng.integers(1, 40)), int(rng.integers(1, 40)))))
    run_cases(cases)


def test_elementwise_and_pool_kernels_follow_the_tflite_rule():
    rng = np.random.default_rng(100)
    cases = []
    for _ in range(16):
        H, W, C = int(rng.integers(1, 10)), int(rng.integers(1, 10)), int(rng.integers(1, 30))
        cases += [_tflite(c[:5]) for c in misc_cases(rng, H, W, C)[:3]]  # add, mul, global_avg_pool
        x = tensor("x", (1, H, W, C), int(rng.integers(-128, 128)))
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        m, s = random_requant(rng, 1, 0.3, 3.0)  # TFLite MEAN: real M = sx / sy, left shifts too
        for pool in ("mean", "average"):
            g, n = single_node_graph("global_avg_pool", [x], tensor("y", (1, 1, 1, C), int(rng.integers(-128, 128))),
                                     attrs=dict(pool=pool, act_min=lo, act_max=hi), params=dict(multiplier=m, shift=s))
            cases.append(_tflite((g, n, {"x": random_int8(rng, x.shape)}, None)))
    run_cases(cases)


def test_tflite_kernels_have_their_own_names_and_default_names_are_unchanged():
    graph, node, *_ = pw_case(np.random.default_rng(3), 4, 4, 8, 8, knob_pick=False)
    single = lower_node(graph, node, "host")
    graph.meta["requant"] = "tflite"
    tfl = lower_node(graph, node, "host")
    assert single.function.startswith("mbk_pw_h4w4c8o8_") and "qt" not in single.function
    assert tfl.function.startswith("mbk_pw_h4w4c8o8qt_") and tfl.source != single.source
