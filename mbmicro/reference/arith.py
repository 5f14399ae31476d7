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
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127

#: Inputs of ``add`` are shifted left by this many bits before rescaling to a
#: common scale, as TFLite does, so that their rescaling keeps 20 bits of
#: fraction.
ADD_LEFT_SHIFT = 20


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
