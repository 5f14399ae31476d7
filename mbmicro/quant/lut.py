"""256-entry int8 lookup tables for element-wise activations (and the exact
tables of TFLite's integer HARD_SWISH and LOGISTIC, for imported .tflite models).

Why tables: an int8 input has only 256 values, so any activation
(h-swish, swish, sigmoid, ...) becomes one exact table read per element,
with no transcendental math on the microcontroller and no rounding rule
beyond the one used to build the table offline.  Tables are built from the
float model's own definitions (``float_ref.ACTIVATIONS``) evaluated in
float64 and rounded half-to-even (``np.rint``, ONNX QuantizeLinear's rule),
as INT8_SEMANTICS.md states; ``table[q + 128]`` is the output for input ``q``.
"""

from __future__ import annotations

import numpy as np

from mbmicro.reference.float32 import ACTIVATIONS
from mbmicro.reference.arith import INT8_MAX, INT8_MIN


#: Activations whose int8 output uses fixed qparams (scale 1/256, zero point
#: -128), as TFLite does for logistic: the range [0, 1] is known in advance.
FIXED_OUTPUT_QPARAMS: dict[str, tuple[float, int]] = {
    "sigmoid": (1.0 / 256.0, -128),
    "hsigmoid": (1.0 / 256.0, -128),
}


def make_table(func: str, in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """int8 table (256,) realizing ``func`` from input to output qparams."""
    if func not in ACTIVATIONS:
        raise ValueError(f"no lookup table for activation {func!r}; known: {sorted(ACTIVATIONS)}")
    q = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.float64)
    y = np.asarray(ACTIVATIONS[func]((q - in_zp) * in_scale), dtype=np.float64)
    return np.clip(np.rint(y / out_scale) + out_zp, INT8_MIN, INT8_MAX).astype(np.int8)


# -- TFLite's integer activations ------------------------------------------------
# HARD_SWISH and LOGISTIC are fixed-point algorithms in TFLite, not rounded float
# functions: a table bit-exact with TFLite Micro must run the same integer steps
# on all 256 inputs.  These are NumPy twins of TFLite's reference kernels
# (reference_ops::HardSwish<int8_t>, reference_integer_ops::Logistic with
# gemmlowp's fixed-point logistic), checked against TFLite Micro in
# tests/test_tflite_lut.py.

_I16_MIN, _I16_MAX = -(1 << 15), (1 << 15) - 1


def _c_div(a: np.ndarray, b: int) -> np.ndarray:
    """C integer division (truncation towards zero)."""
    return np.sign(a) * (np.abs(a) // b)


def _srdhm16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16."""
    ab = a.astype(np.int64) * int(b)
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    out = _c_div(ab + nudge, 1 << 15)
    return np.where((a == b) & (a == _I16_MIN), _I16_MAX, out)


def _sdhm16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TFLite SaturatingDoublingHighMul on int16 (no rounding nudge)."""
    out = _c_div(a.astype(np.int64) * b.astype(np.int64), 1 << 15)
    return np.where((a == b) & (a == _I16_MIN), _I16_MAX, out)


def _sat_left_shift16(a: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(a.astype(np.int64) * (1 << amount), _I16_MIN, _I16_MAX)


def _downscale_to_int16(m32: int) -> int:
    """TFLite DownScaleInt32ToInt16Multiplier."""
    if m32 >= (1 << 31) - 1 - (1 << 15):
        return _I16_MAX
    return (m32 + (1 << 15)) >> 16


def tflite_hard_swish_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """int8 table (256,) equal to TFLite's int8 HARD_SWISH for these qparams.

    Prepare as TFLite's hard_swish (float32 scales, QuantizeMultiplier, then
    int16 multipliers); Eval as reference_ops::HardSwish, element by element.
    """
    from mbmicro.reference.arith import quantize_multiplier_tflite, rounding_divide_by_pot

    hires_scale = np.float32(1.0 / 128.0) * np.float32(in_scale)
    out_mult = float(np.float32(hires_scale / np.float32(out_scale)))
    relu_mult = float(np.float32(hires_scale / np.float32(3.0 / 32768.0)))
    m_out, s_out = quantize_multiplier_tflite(out_mult)
    m_relu, s_relu = quantize_multiplier_tflite(relu_mult)
    out_exp, relu_exp = 31 - s_out, 31 - s_relu
    m_out16, m_relu16 = _downscale_to_int16(m_out), _downscale_to_int16(m_relu)
    q = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.int64)
    hires = (q - int(in_zp)) * 128
    preshift = _srdhm16(hires, m_out16)
    relu = hires
    if relu_exp > 0:
        relu = _sat_left_shift16(relu, relu_exp - 1)
    relu = _srdhm16(relu, m_relu16)
    if relu_exp > 0:
        relu = _sat_left_shift16(relu, 1)
    if relu_exp < 0:
        relu = rounding_divide_by_pot(relu, -relu_exp)
    relu = (relu + (1 << 15)) >> 1
    out = rounding_divide_by_pot(_sdhm16(relu, preshift), -out_exp) + int(out_zp)
    return np.clip(out, INT8_MIN, INT8_MAX).astype(np.int8)


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _mul(a: np.ndarray, b) -> np.ndarray:
    """gemmlowp fixed-point product: SaturatingRoundingDoublingHighMul of the raw int32 values."""
    from mbmicro.reference.arith import saturating_rounding_doubling_high_mul

    return saturating_rounding_doubling_high_mul(a, np.broadcast_to(np.int64(b), np.shape(a)))


def _sat_mul_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT: a saturating left shift, or a rounding right shift."""
    from mbmicro.reference.arith import rounding_divide_by_pot

    if exponent <= 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, (1 << 31) - 1, np.where(x < -threshold, -(1 << 31), x << exponent))


def _exp_quarter(a: np.ndarray) -> np.ndarray:
    """exp on [-1/4, 0), Q0.31 in and out (gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl)."""
    x = _wrap32(a + (1 << 28))
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = _sat_mul_pot(x4, -2)
    poly = _sat_mul_pot(_wrap32(_mul(_wrap32(x4_over_4 + x3), 715827883) + x2), -1)
    return _wrap32(1895147668 + _mul(np.full_like(a, 1895147668), _wrap32(x + poly)))


_BARREL = [(-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401)]


def _exp_negative_q4(a: np.ndarray) -> np.ndarray:
    """gemmlowp exp_on_negative_values for a Q4.27 input <= 0; Q0.31 out."""
    quarter = 1 << 25
    rem_q = _wrap32((a & (quarter - 1)) - quarter)
    result = _exp_quarter(_sat_mul_pot(rem_q, 4))
    remainder = _wrap32(rem_q - a)
    for e, mult in _BARREL:  # kIntegerBits 4 > e for these
        result = np.where(remainder & (1 << (27 + e)), _mul(result, mult), result)
    return np.where(a == 0, (1 << 31) - 1, result)


def _one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 in and out, Newton-Raphson in Q2.29."""
    s = a + ((1 << 31) - 1)
    half = _c_div(s + np.where(s >= 0, 1, -1), 2)  # RoundingHalfSum(a, One)
    x = _wrap32(1515870810 + _mul(half, -1010580540))
    for _ in range(3):
        one_minus = _wrap32((1 << 29) - _mul(half, x))
        x = _wrap32(x + _sat_mul_pot(_mul(x, one_minus), 2))
    return _sat_mul_pot(x, 1)


def tflite_logistic_table(in_scale: float, in_zp: int) -> np.ndarray:
    """int8 table (256,) equal to TFLite's int8 LOGISTIC (output scale 1/256, zero point -128).

    Prepare as TFLite's logistic (input multiplier in Q4.27 from double,
    range radius with floor); Eval as reference_integer_ops::Logistic.
    """
    import math

    from mbmicro.reference.arith import requantize_tflite, rounding_divide_by_pot, tflite_round

    real = float(in_scale) * float(1 << 27)
    frac, left = math.frexp(real)
    mult = tflite_round(frac * (1 << 31))
    if mult == 1 << 31:
        mult //= 2
        left += 1
    radius = math.floor(15.0 * (1 << 27) / (2.0 ** left))
    q = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.int64)
    x = q - int(in_zp)
    x_q4 = requantize_tflite(x, mult, 31 - left)
    pos = x_q4 > 0
    abs_x = np.where(pos, x_q4, -x_q4)
    result_pos = _one_over_one_plus_x(_exp_negative_q4(_wrap32(-abs_x)))
    result = np.where(x_q4 == 0, 1 << 30, np.where(pos, result_pos, _wrap32(((1 << 31) - 1) - result_pos)))
    out = np.clip(rounding_divide_by_pot(result, 23) - 128, INT8_MIN, INT8_MAX)
    out = np.where(x <= -radius, INT8_MIN, np.where(x >= radius, INT8_MAX, out))
    return out.astype(np.int8)
