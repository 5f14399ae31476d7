"""Integer requantization: the one rounding rule shared by the NumPy
reference and every generated kernel.

Rule (TFLite's single-rounding mode, ``TFLITE_SINGLE_ROUNDING``; also
CMSIS-NN's ``CMSIS_NN_USE_SINGLE_ROUNDING``):

    real_scale ~= multiplier * 2**-shift,  multiplier in [2**30, 2**31),
                                            shift in [1, 62]
    requantize(acc) = (acc * multiplier + 2**(shift - 1)) >> shift

computed in 64-bit with an arithmetic right shift.  Ties round towards
+infinity (so -2.5 -> -2, 2.5 -> 3).  Why this rule and not TFLite's default
double rounding: it is one 32x32->64 multiply, one add and one shift on every
ARM core (SMLAL / UMLAL), it has no saturation special case, and it is exact
for every accumulator the kernels produce (|acc| < 2**31, so the product and
the rounding term fit in int64).

Every function here works on NumPy arrays element-wise and is the definition
kernels are tested against.

A second rule, chosen per graph with ``graph.meta["requant"] = "tflite"``
(default ``"single"``), is TFLite's default ``MultiplyByQuantizedMultiplier``:
SaturatingRoundingDoublingHighMul then RoundingDivideByPOT (double rounding,
ties away from zero in the last step), as TFLite Micro's reference kernels
and CMSIS-NN compute it.  Why a second rule: an imported .tflite model is only
bit-exact with TFLite Micro if every rounding is TFLite's.  Both rules read the
same (multiplier, shift) pair, real ~= multiplier * 2**-shift; TFLite's
exponent is ``31 - shift`` (a left shift when positive).
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127

#: Inputs of a TFLite-rule ``add`` are shifted left by this many bits before
#: rescaling to a common scale, as TFLite does, so that their rescaling keeps
#: 20 bits of fraction.
ADD_LEFT_SHIFT = 20

#: Bound of the single-rule add's int32 arithmetic: ``Ma + Mb + 2**f`` stays at or
#: below it.  A kernel folds every zero point and the rounding term into one constant
#: K (|K| <= 255.5 * 2**f + 128 * (Ma + Mb)) and computes ``K + a*Ma + b*Mb`` on the raw
#: int8 values; the sum of the magnitudes is then below 256 * (Ma + Mb + 2**f) <= 2**31,
#: so no partial sum leaves int32, in any order of the additions.
ADD_INT32_BOUND = 1 << 23


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Return (multiplier, shift) with real ~= multiplier * 2**-shift.

    multiplier is in [2**30, 2**31) and shift in [1, 62]; ``real`` must be
    positive and below 2**30.  Scales too small for shift 62 become
    (0, 1): the result is then exactly zero, as it would be after rounding.
    """
    if not real > 0 or not math.isfinite(real):
        raise ValueError(f"requantization scale must be positive and finite, got {real}")
    frac, exp = math.frexp(real)  # real = frac * 2**exp, frac in [0.5, 1)
    multiplier = int(round(frac * (1 << 31)))
    if multiplier == (1 << 31):  # frac rounded up to 1.0
        multiplier //= 2
        exp += 1
    shift = 31 - exp
    if shift < 1:
        raise ValueError(f"requantization scale {real} is too large (>= 2**30)")
    if shift > 62:
        return 0, 1
    return multiplier, shift


#: The requantization rules a graph may name in ``graph.meta["requant"]``.
REQUANT_RULES = ("single", "tflite")


def requant_rule(graph) -> str:
    """The rule a graph's requantizations follow ("single" unless the graph says otherwise)."""
    rule = graph.meta.get("requant", "single")
    if rule not in REQUANT_RULES:
        raise ValueError(f"graph {graph.name!r}: unknown requantization rule {rule!r}; known: {REQUANT_RULES}")
    return rule


def tflite_round(x: float) -> int:
    """std::round: half away from zero (TfLiteRound), not Python's half to even."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier_tflite(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier (frexp, std::round), as (multiplier, shift = 31 - exponent).

    Why separate from :func:`quantize_multiplier`: TFLite rounds the
    significand half away from zero and flushes exponents below -31 to
    (0, exponent 0); a multiplier that differs in its last bit is not
    bit-exact with TFLite Micro.
    """
    if real == 0:
        return 0, 31
    if not real > 0 or not math.isfinite(real):
        raise ValueError(f"requantization scale must be positive and finite, got {real}")
    frac, exp = math.frexp(real)
    q = tflite_round(frac * (1 << 31))
    if q == (1 << 31):
        q //= 2
        exp += 1
    if exp < -31:
        return 0, 31
    if exp > 30:
        raise ValueError(f"requantization scale {real} is too large (>= 2**30)")
    return q, 31 - exp


def tflite_mean_multiplier(real: float, count: int) -> tuple[int, int]:
    """TFLite's int8 MEAN: QuantizeMultiplier(sx / sy), then the division by the element
    count folded into it as TFLite's QuantizedMeanOrSum does (integer, truncating):

        shift' = min(floor(log2 count), 32, 31 + exponent)
        M' = (M << shift') / count,  exponent' = exponent - shift'

    Returned as (M', 31 - exponent') for :func:`requantize_tflite`.
    """
    m, s = quantize_multiplier_tflite(real)
    exp = 31 - s
    sh = min(int(count).bit_length() - 1, 32, 31 + exp)
    return (m << sh) // int(count), 31 - (exp - sh)


def add_multipliers(sa: float, sb: float, sy: float) -> tuple[np.ndarray, np.ndarray]:
    """The single-rule add's (multiplier (2,) = [Ma, Mb], shift (1,) = [f]).

    The add is one rounding of the exact sum, ``((a - za) Ma + (b - zb) Mb + 2**(f-1)) >> f``,
    with ``Ma = round(sa / sy * 2**f)``, ``Mb = round(sb / sy * 2**f)``: the intermediate
    scale is ``sy * 2**-f``, so the final requantization is a rounding shift and no
    multiply (docs/INT8_SEMANTICS.md).  Why this and not TFLite's three requantizations:
    a kernel computes it in 32-bit with two multiply-accumulates, one shift and a
    saturation per element (no 64-bit work, no runtime shift), and it is closer to the
    real-valued sum (one rounding instead of three).

    ``f`` is the largest value in [1, 30] with ``Ma + Mb + 2**f <= ADD_INT32_BOUND``: the
    most fraction bits the int32 kernel can carry (f ~ 21 for sa ~ sb ~ sy, i.e. about
    20-bit multipliers; the error of the integer sum against the real one is below
    ``510 / 2**(f+1)`` output steps).
    """
    ra, rb = float(sa) / float(sy), float(sb) / float(sy)
    for v in (ra, rb):
        if not v > 0 or not math.isfinite(v):
            raise ValueError(f"add: scale ratios must be positive and finite, got {ra}, {rb}")
    for f in range(30, 0, -1):
        ma, mb = int(round(ra * (1 << f))), int(round(rb * (1 << f)))
        if ma + mb + (1 << f) <= ADD_INT32_BOUND:
            return np.array([ma, mb], np.int32), np.array([f], np.int32)
    raise ValueError(f"add: input scales {sa:g}, {sb:g} are too large for the output scale {sy:g} "
                     f"(ratio above {ADD_INT32_BOUND // 4})")


#: |x - zx| and |g - zg| of the SE multiply are at most 255.
_MUL_SPAN = 255


def mul_fits_int32(multiplier: int, shift: int) -> bool:
    """Whether a mul's (M, s) lets a kernel requantize in int32 (``255 M + 2**s <= ADD_INT32_BOUND``).

    The kernel then folds the per-channel gate ``G = (g - zg) M`` (|G| <= 255 M), the
    zero points and the rounding into ``K + x*G`` on the raw int8 x, whose magnitudes add
    up to less than 256 (255 M + 2**s) <= 2**31 (the argument of ADD_INT32_BOUND).
    """
    return 1 <= int(shift) and _MUL_SPAN * int(multiplier) + (1 << int(shift)) <= ADD_INT32_BOUND


def mul_multiplier(real: float) -> tuple[np.ndarray, np.ndarray]:
    """The SE multiply's (multiplier (1,), shift (1,)) for ``real = sx sg / sy``.

    The same rounding rule as every op (:func:`requantize` of ``(x - zx)(g - zg)``), with
    the largest shift for which :func:`mul_fits_int32` holds instead of a multiplier in
    [2**30, 2**31): the kernel then needs no 64-bit product.  The price is precision:
    for ``real ~ 1/256`` (a sigmoid gate) M has 14 bits, and the integer result is off
    the real product by at most ``255 * 255 / 2**(s+1)`` (< 0.008) output steps.  A real
    too large for a shift >= 1 falls back to :func:`quantize_multiplier` (the kernel then
    takes its 64-bit path).
    """
    if not real > 0 or not math.isfinite(real):
        raise ValueError(f"requantization scale must be positive and finite, got {real}")
    for s in range(23, 0, -1):
        m = int(round(real * (1 << s)))
        if mul_fits_int32(m, s):
            return np.array([m], np.int32), np.array([s], np.int32)
    m, s = quantize_multiplier(real)
    return np.array([m], np.int32), np.array([s], np.int32)


def add_single(a: np.ndarray, b: np.ndarray, multiplier, shift) -> np.ndarray:
    """The single-rule add before the zero point and clamp, on centred inputs; returns int64.

    ``a`` and ``b`` are ``x - zx`` (broadcast against each other), ``multiplier`` = [Ma, Mb],
    ``shift`` = [f] (:func:`add_multipliers`): ``(a*Ma + b*Mb + 2**(f-1)) >> f``.
    """
    m = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    f = np.int64(np.asarray(shift).reshape(-1)[0])
    total = np.asarray(a, dtype=np.int64) * m[0] + np.asarray(b, dtype=np.int64) * m[1]
    return (total + (np.int64(1) << (f - 1))) >> f


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vector form of :func:`quantize_multiplier`: int32 multiplier and shift arrays."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, dtype=np.float64).ravel()]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


def requantize(acc: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """(acc * multiplier + 2**(shift-1)) >> shift in int64; returns int64.

    ``multiplier``/``shift`` broadcast against ``acc`` (per-channel arrays
    along the last axis for NHWC tensors).
    """
    acc = np.asarray(acc, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    return (acc * m + (np.int64(1) << (s - 1))) >> s


def _wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap to int32 (what an int32 multiply does on every ARM core)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32 values (as int64).

    ``(a*b + nudge) / 2**31`` with C truncation equals ``(a*b + 2**30) >> 31``
    for every product (checked in tests); the one overflow, a = b = INT32_MIN,
    saturates to INT32_MAX.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    high = (a * b + (np.int64(1) << 30)) >> 31
    return np.where((a == b) & (a == -(1 << 31)), np.int64((1 << 31) - 1), high)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: x / 2**exponent rounded half away from zero."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + ((x & mask) > threshold)


def requantize_tflite(acc: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier(acc, multiplier, 31 - shift); returns int64.

    The left shift (exponent > 0) is applied to the int32 value first and
    wraps as the int32 multiply in TFLite does.
    """
    acc = np.asarray(acc, dtype=np.int64)
    exp = 31 - np.asarray(shift, dtype=np.int64)
    left = np.maximum(exp, 0)
    x = _wrap_int32(acc << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), np.maximum(-exp, 0))


def requantize_by(rule: str, acc, multiplier, shift) -> np.ndarray:
    """Requantize with the named rule ("single" or "tflite")."""
    if rule == "single":
        return requantize(acc, multiplier, shift)
    if rule == "tflite":
        return requantize_tflite(acc, multiplier, shift)
    raise ValueError(f"unknown requantization rule {rule!r}; known: {REQUANT_RULES}")


def divide_round_away(acc: np.ndarray, n: int) -> np.ndarray:
    """C's ``acc > 0 ? (acc + n/2) / n : (acc - n/2) / n`` (truncating division):
    the rounding of TFLite's int8 MEAN and AVERAGE_POOL_2D."""
    acc = np.asarray(acc, dtype=np.int64)
    n = int(n)
    half = n // 2
    num = np.where(acc > 0, acc + half, acc - half)
    return np.sign(num) * (np.abs(num) // n)


def clamp_int8(x: np.ndarray, lo: int = INT8_MIN, hi: int = INT8_MAX) -> np.ndarray:
    """Saturate to [lo, hi] and return int8."""
    return np.clip(x, lo, hi).astype(np.int8)


def activation_bounds(act: str, scale: float, zero_point: int) -> tuple[int, int]:
    """int8 clamp bounds that realize a fused ReLU / ReLU6 (or none)."""
    lo, hi = INT8_MIN, INT8_MAX
    if act in ("relu", "relu6"):
        lo = max(lo, zero_point)
    if act == "relu6":
        hi = min(hi, zero_point + int(round(6.0 / scale)))
    elif act not in ("none", "relu"):
        raise ValueError(f"activation {act!r} cannot be fused into a clamp")
    return lo, hi


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float -> int8 with round-half-to-even (ONNX QuantizeLinear's rule)."""
    return clamp_int8(np.rint(np.asarray(x, dtype=np.float64) / scale) + zero_point)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """int8 -> float32."""
    return ((np.asarray(q, dtype=np.float32) - zero_point) * scale).astype(np.float32)
