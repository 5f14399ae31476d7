"""256-entry int8 lookup tables for element-wise activations.

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
