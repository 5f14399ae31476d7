"""Each int8 reference op against an independent computation of the same
quantized arithmetic (docs/INT8_SEMANTICS.md).

Why independent: the expected values are computed with explicit padding by
the zero point, per-pixel window sums in float64 (exact for these sizes) and
exact rational rounding with Python integers ("multiply by M * 2**-s, round
half up"), so a bug in the reference's strided views, float64-BLAS trick or
int64 shifts shows up as a mismatch.  Requantization multipliers include
tie-heavy ones (2**30 with shift 31 or 32 makes every odd accumulator a tie)
and gains that saturate the output.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mbmicro.reference import int8 as ref
from mbmicro.graph.ir import same_padding
from mbmicro.reference.arith import add_multipliers, quantize_multiplier

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TIE_MULTIPLIERS = [(1 << 30, 31), (1 << 30, 32), (3 << 29, 33)]


# ---------------------------------------------------------------- exact helpers

def exact_requantize(acc, mult, shift) -> np.ndarray:
    """floor(acc * M / 2**s + 1/2) with Python integers (no int64 overflow, no floats)."""
    acc = np.asarray(acc, dtype=np.int64)
    m = np.broadcast_to(np.asarray(mult, dtype=np.int64), acc.shape)
    s = np.broadcast_to(np.asarray(shift, dtype=np.int64), acc.shape)
    out = [(2 * int(a) * int(mm) + (1 << int(ss))) // (1 << (int(ss) + 1))
           for a, mm, ss in zip(acc.ravel(), m.ravel(), s.ravel())]
    return np.array(out, dtype=np.int64).reshape(acc.shape)


def finish(acc, mult, shift, y_zp, lo, hi) -> np.ndarray:
    return np.clip(exact_requantize(acc, mult, shift) + y_zp, lo, hi).astype(np.int8)


def int8s(rng, shape, extreme=False) -> np.ndarray:
    if extreme:
        return rng.choice(np.array([-128, 127], dtype=np.int8), size=shape)
    return rng.integers(-128, 128, size=shape, dtype=np.int16).astype(np.int8)


def weights(rng, shape, extreme=False) -> np.ndarray:
    if extreme:
        return rng.choice(np.array([-127, 127], dtype=np.int8), size=shape)
    return rng.integers(-127, 128, size=shape, dtype=np.int16).astype(np.int8)


@st.composite
def requant(draw, acc, channels):
    """Per-channel (M, s): a tie-heavy pair or a real scale that maps acc's spread to a drawn gain."""
    if draw(st.integers(0, 3)) == 0:
        m, s = draw(st.sampled_from(TIE_MULTIPLIERS))
        return np.full(channels, m, np.int32), np.full(channels, s, np.int32)
    gain = draw(st.floats(0.05, 500.0))
    spread = max(1.0, float(np.std(acc)))
    jitter = np.random.default_rng(draw(st.integers(0, 2**31))).uniform(0.5, 2.0, channels)
    pairs = [quantize_multiplier(gain / spread * j) for j in jitter]
    return np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32)


@st.composite
def clamp_bounds(draw, y_zp):
    kind = draw(st.sampled_from(["none", "relu", "relu6"]))
    if kind == "none":
        return -128, 127
    if kind == "relu":
        return y_zp, 127
    return y_zp, min(127, y_zp + draw(st.integers(0, 255)))


zero_points = st.integers(-128, 127)


# ---------------------------------------------------------------- conv family

def naive_conv_acc(x, w, bias, x_zp, stride, pad, groups):
    """Pad with the zero point, then sum each output's window (weight (O,KH,KW,I/g))."""
    top, left, bottom, right = pad
    xp = np.pad(x[0].astype(np.float64), ((top, bottom), (left, right), (0, 0)), constant_values=x_zp)
    o, kh, kw, ig = w.shape
    og = o // groups
    oh = (xp.shape[0] - kh) // stride + 1
    ow = (xp.shape[1] - kw) // stride + 1
    acc = np.zeros((1, oh, ow, o), dtype=np.int64)
    for p in range(oh):
        for q in range(ow):
            win = xp[p * stride:p * stride + kh, q * stride:q * stride + kw, :] - x_zp
            for g in range(groups):
                part = np.einsum("hwi,ohwi->o", win[:, :, g * ig:(g + 1) * ig], w[g * og:(g + 1) * og].astype(np.float64))
                acc[0, p, q, g * og:(g + 1) * og] = part.astype(np.int64)
    return acc + bias.astype(np.int64)


@st.composite
def conv_case(draw, depthwise=False):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k = draw(st.sampled_from([1, 3, 5, 7, 9]))
    stride = draw(st.sampled_from([1, 2]))
    h, w = draw(st.integers(1, 11)), draw(st.integers(1, 11))
    groups = 1 if depthwise else draw(st.sampled_from([1, 1, 2, 3]))
    ig = 1 if depthwise else draw(st.integers(1, 9))
    og = 1 if depthwise else draw(st.integers(1, 7))
    c = draw(st.integers(1, 13)) if depthwise else ig * groups
    extreme = draw(st.booleans())
    x = int8s(rng, (1, h, w, c), extreme)
    if draw(st.booleans()):
        (top, bottom), (left, right) = same_padding(h, k, stride), same_padding(w, k, stride)
        pad = (top, left, bottom, right)
    else:
        pad = tuple(draw(st.integers(0, k - 1)) for _ in range(4))
        if h + pad[0] + pad[2] < k or w + pad[1] + pad[3] < k:
            pad = (k - 1, k - 1, k - 1, k - 1)
    if depthwise:
        wt = weights(rng, (k, k, c), extreme)
        w_oihw = np.transpose(wt, (2, 0, 1))[..., None]  # (C, KH, KW, 1), groups = C
        groups_naive = c
        o = c
    else:
        o = og * groups
        wt = weights(rng, (o, k, k, ig), extreme)
        w_oihw, groups_naive = wt, groups
    bias = rng.integers(-(1 << 20), 1 << 20, size=o).astype(np.int32)
    x_zp = draw(zero_points)
    acc = naive_conv_acc(x, w_oihw, bias, x_zp, stride, pad, groups_naive)
    mult, shift = draw(requant(acc, o))
    y_zp = draw(zero_points)
    lo, hi = draw(clamp_bounds(y_zp))
    return dict(x=x, w=wt, bias=bias, mult=mult, shift=shift, x_zp=x_zp, y_zp=y_zp, stride=stride,
                pad=pad, groups=groups, lo=lo, hi=hi, expected=finish(acc, mult[None, None, None, :],
                                                                     shift[None, None, None, :], y_zp, lo, hi))


@SETTINGS
@given(conv_case())
def test_conv2d_matches_exact_math(case):
    got = ref.conv2d(case["x"], case["w"], case["bias"], case["mult"], case["shift"], x_zp=case["x_zp"],
                     y_zp=case["y_zp"], stride=case["stride"], pad=case["pad"], groups=case["groups"],
                     act_min=case["lo"], act_max=case["hi"])
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, case["expected"])


@SETTINGS
@given(conv_case(depthwise=True))
def test_depthwise_matches_exact_math(case):
    got = ref.depthwise(case["x"], case["w"], case["bias"], case["mult"], case["shift"], x_zp=case["x_zp"],
                        y_zp=case["y_zp"], stride=case["stride"], pad=case["pad"],
                        act_min=case["lo"], act_max=case["hi"])
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, case["expected"])


@SETTINGS
@given(st.data())
def test_fully_connected_matches_exact_math(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    c, n = data.draw(st.integers(1, 300)), data.draw(st.integers(1, 37))
    extreme = data.draw(st.booleans())
    x, w = int8s(rng, (1, 1, 1, c), extreme), weights(rng, (n, c), extreme)
    bias = rng.integers(-(1 << 24), 1 << 24, size=n).astype(np.int32)
    x_zp, y_zp = data.draw(zero_points), data.draw(zero_points)
    acc = np.array([sum((int(v) - x_zp) * int(wv) for v, wv in zip(x.ravel(), w[j])) + int(bias[j])
                    for j in range(n)], dtype=np.int64).reshape(1, 1, 1, n)
    mult, shift = data.draw(requant(acc, n))
    lo, hi = data.draw(clamp_bounds(y_zp))
    got = ref.fully_connected(x, w, bias, mult, shift, x_zp=x_zp, y_zp=y_zp, act_min=lo, act_max=hi)
    np.testing.assert_array_equal(got, finish(acc, mult, shift, y_zp, lo, hi))


# ---------------------------------------------------------------- element-wise ops

@SETTINGS
@given(st.data())
def test_add_matches_exact_math_and_float(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    h, w, ca = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9)), data.draw(st.integers(1, 21))
    cb = data.draw(st.integers(1, ca))
    extreme = data.draw(st.booleans())
    a, b = int8s(rng, (1, h, w, ca), extreme), int8s(rng, (1, h, w, cb), extreme)
    sa, sb = 10 ** data.draw(st.floats(-3, 0)), 10 ** data.draw(st.floats(-3, 0))
    sy = (sa + sb) * data.draw(st.floats(0.3, 3.0))
    a_zp, b_zp, y_zp = (data.draw(zero_points) for _ in range(3))
    lo, hi = data.draw(clamp_bounds(y_zp))
    mult, shift = add_multipliers(sa, sb, sy)
    got = ref.add(a, b, mult, shift, a_zp=a_zp, b_zp=b_zp, y_zp=y_zp, act_min=lo, act_max=hi)

    # One rounding of the integer sum, in Python integers: ((a-za) Ma + (b-zb) Mb + 2**(f-1)) // 2**f.
    f = int(shift[0])
    total = (a.astype(object) - a_zp) * int(mult[0])
    total[..., :cb] += (b.astype(object) - b_zp) * int(mult[1])
    rounded = np.vectorize(lambda v: (v + (1 << (f - 1))) // (1 << f), otypes=[object])(total)
    np.testing.assert_array_equal(got, np.clip(rounded.astype(np.int64) + y_zp, lo, hi).astype(np.int8))

    # And the integer pipeline stays within one step of the real-valued sum.
    real = sa * (a.astype(np.float64) - a_zp)
    real[..., :cb] += sb * (b.astype(np.float64) - b_zp)
    ideal = np.clip(np.floor(real / sy + 0.5) + y_zp, lo, hi)
    assert np.max(np.abs(got.astype(np.int64) - ideal)) <= 1


@SETTINGS
@given(st.data())
def test_global_avg_pool_matches_exact_math(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    h, w, c = data.draw(st.integers(1, 23)), data.draw(st.integers(1, 23)), data.draw(st.integers(1, 19))
    x = int8s(rng, (1, h, w, c), data.draw(st.booleans()))
    x_zp, y_zp = data.draw(zero_points), data.draw(zero_points)
    sx, sy = 10 ** data.draw(st.floats(-3, 0)), 10 ** data.draw(st.floats(-3, 0))
    if data.draw(st.integers(0, 3)) == 0:
        m, s = data.draw(st.sampled_from(TIE_MULTIPLIERS))
    else:
        m, s = quantize_multiplier(sx / (sy * h * w))
    got = ref.global_avg_pool(x, np.array([m], np.int32), np.array([s], np.int32), x_zp=x_zp, y_zp=y_zp)
    acc = np.array([[[[sum(int(v) - x_zp for v in x[0, :, :, ch].ravel()) for ch in range(c)]]]], np.int64)
    assert got.shape == (1, 1, 1, c)
    np.testing.assert_array_equal(got, finish(acc, m, s, y_zp, -128, 127))


@SETTINGS
@given(st.data())
def test_mul_matches_exact_math(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    h, w, c = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9)), data.draw(st.integers(1, 21))
    extreme = data.draw(st.booleans())
    x, g = int8s(rng, (1, h, w, c), extreme), int8s(rng, (1, 1, 1, c), extreme)
    x_zp, g_zp, y_zp = (data.draw(zero_points) for _ in range(3))
    acc = (x.astype(np.int64) - x_zp) * (g.astype(np.int64) - g_zp)
    mult, shift = data.draw(requant(acc, 1))
    lo, hi = data.draw(clamp_bounds(y_zp))
    got = ref.mul(x, g, mult, shift, x_zp=x_zp, gate_zp=g_zp, y_zp=y_zp, act_min=lo, act_max=hi)
    np.testing.assert_array_equal(got, finish(acc, mult[0], shift[0], y_zp, lo, hi))


@SETTINGS
@given(st.data())
def test_lut_concat_slice(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    shape = (1, data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7)), data.draw(st.integers(1, 9)))
    x = int8s(rng, shape)
    table = int8s(rng, (256,))
    got = ref.lut(x, table)
    assert got.dtype == np.int8
    assert all(got.ravel()[i] == table[int(v) + 128] for i, v in enumerate(x.ravel()))

    y = int8s(rng, shape[:3] + (data.draw(st.integers(1, 5)),))
    cat = ref.concat([x, y])
    np.testing.assert_array_equal(cat[..., :shape[3]], x)
    np.testing.assert_array_equal(cat[..., shape[3]:], y)
    begin = data.draw(st.integers(0, cat.shape[3] - 1))
    end = data.draw(st.integers(begin + 1, cat.shape[3]))
    sl = ref.slice_channels(cat, begin, end)
    assert sl.shape == shape[:3] + (end - begin,)
    np.testing.assert_array_equal(sl, cat[..., begin:end])


# ---------------------------------------------------------------- explicit ties

HALF = (np.array([1 << 30], np.int32), np.array([31], np.int32))  # exactly acc / 2


@pytest.mark.parametrize("acc,expected", [(-5, -2), (-3, -1), (-1, 0), (1, 1), (3, 2), (5, 3), (-255, -127)])
def test_conv_negative_ties_round_towards_plus_infinity(acc, expected):
    """acc * M * 2**-s = acc / 2 exactly: -2.5 -> -2, 2.5 -> 3 (never away from zero)."""
    x = np.array(acc, dtype=np.int64).reshape(1, 1, 1, 1)
    x8 = np.clip(x, -128, 127).astype(np.int8)
    bias = np.array([acc - int(x8[0, 0, 0, 0])], np.int32)
    w = np.ones((1, 1, 1, 1), np.int8)
    got = ref.conv2d(x8, w, bias, *HALF, x_zp=0, y_zp=0, stride=1, pad=(0, 0, 0, 0), groups=1,
                     act_min=-128, act_max=127)
    assert int(got[0, 0, 0, 0]) == expected
    got = ref.depthwise(x8, w.reshape(1, 1, 1), bias, *HALF, x_zp=0, y_zp=0, stride=1, pad=(0, 0, 0, 0),
                        act_min=-128, act_max=127)
    assert int(got[0, 0, 0, 0]) == expected


def test_mul_and_pool_negative_ties():
    x = np.array([[[[-5, 5, -3]]]], np.int8)
    gate = np.array([[[[1, 1, 1]]]], np.int8)
    np.testing.assert_array_equal(ref.mul(x, gate, *HALF, x_zp=0, gate_zp=0, y_zp=0, act_min=-128, act_max=127),
                                  [[[[-2, 3, -1]]]])
    np.testing.assert_array_equal(ref.global_avg_pool(x, *HALF, x_zp=0, y_zp=10), [[[[8, 13, 9]]]])


def test_add_negative_tie_rounds_up():
    """Ma = Mb = 2**20, f = 21 (both inputs halved): a + b = -3 gives -1.5 -> -1, +1 gives 0.5 -> 1."""
    mult, shift = np.array([1 << 20, 1 << 20], np.int32), np.array([21], np.int32)
    a = np.array([[[[-2]]]], np.int8)
    for bv, want in ((-1, -1), (-4, -3), (3, 1), (0, -1)):  # -1.5, -3, 0.5, -1
        b = np.array([[[[bv]]]], np.int8)
        assert int(ref.add(a, b, mult, shift, a_zp=0, b_zp=0, y_zp=0, act_min=-128, act_max=127)[0, 0, 0, 0]) == want


def test_saturation_and_fused_clamp():
    x = np.full((1, 2, 2, 1), 127, np.int8)
    w = np.full((1, 3, 3, 1), 127, np.int8)
    big = ref.conv2d(x, w, np.zeros(1, np.int32), np.array([1 << 30], np.int32), np.array([1], np.int32),
                     x_zp=-128, y_zp=0, stride=1, pad=(1, 1, 1, 1), groups=1, act_min=-128, act_max=127)
    assert (big == 127).all()
    neg = ref.conv2d(x, -w, np.zeros(1, np.int32), np.array([1 << 30], np.int32), np.array([1], np.int32),
                     x_zp=-128, y_zp=0, stride=1, pad=(1, 1, 1, 1), groups=1, act_min=-20, act_max=30)
    assert (neg == -20).all()
