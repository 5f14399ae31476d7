"""Plan-time data for the Cortex-M55 Helium micro-kernels of
``codegen/microkernels/mbmicro_mve.h``: the pointwise weight layout they read
and the requantization mode a layer's shifts allow.

Why offline: the GEMM tile reads 4 output channels' weights through one
pointer with constant offsets (16 input channels of each, back to back), so
the weights are re-laid once here instead of gathered at run time; and
whether the exact vector requantization applies (every shift >= 31) is known
from the layer's parameters, so the kernel gets it as a literal constant.
"""

from __future__ import annotations

import numpy as np

#: Values of the header's ``mode`` argument.
MODE_S32, MODE_S31, MODE_SCALAR = 0, 1, 2


def pw_weights(weight_kc: np.ndarray) -> np.ndarray:
    """(K, C) int8 -> the flat int8 layout of ``mbmicro_mve_pw_w_index``.

    Output channels in blocks of 4 (the last block padded with zero rows);
    inside a block, input channels in chunks of 16 (the last one C % 16
    long), each chunk holding the 4 rows back to back.  Size: ceil(K/4)*4*C.
    """
    w = np.asarray(weight_kc, dtype=np.int8)
    K, C = w.shape
    k4 = -(-K // 4) * 4
    padded = np.zeros((k4, C), np.int8)
    padded[:K] = w
    blocks = []
    for kb in range(0, k4, 4):
        for c0 in range(0, C, 16):
            blocks.append(padded[kb:kb + 4, c0:c0 + 16].reshape(-1))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.int8)


def requant_mode(shift: np.ndarray) -> int:
    """MODE_S32 if every shift >= 32, MODE_S31 if some equal 31 (none below),
    else MODE_SCALAR (a real scale >= 1: the vector rule would not be exact)."""
    s = np.asarray(shift)
    if s.size and int(s.min()) >= 32:
        return MODE_S32
    if s.size and int(s.min()) == 31:
        return MODE_S31
    return MODE_SCALAR


def _check_mode_shifts(shift: np.ndarray) -> np.ndarray:
    s = np.asarray(shift, dtype=np.int64)
    if s.size and (s.min() < 1 or s.max() > 62):
        raise ValueError("requantization shifts must lie in [1, 62]")
    return s


def pw_requant(bias: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Per block of 4 output channels: bias'[4], M[4], (31 - s)[4] (int32, zero past K)."""
    s = _check_mode_shifts(shift)
    K = len(s)
    k4 = -(-K // 4) * 4
    rows = np.zeros((3, k4), np.int64)
    rows[0, :K], rows[1, :K], rows[2, :K] = bias, mult, 31 - s
    return rows.reshape(3, -1, 4).transpose(1, 0, 2).reshape(-1).astype(np.int32)


def dw_requant(bias: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Per block of 8 channels: bias', M, (31 - s), each as channels 0,2,4,6 then 1,3,5,7
    (the even/odd lanes VMULLB/VMULLT give), int32, zero past C."""
    s = _check_mode_shifts(shift)
    C = len(s)
    c8 = -(-C // 8) * 8
    rows = np.zeros((3, c8), np.int64)
    rows[0, :C], rows[1, :C], rows[2, :C] = bias, mult, 31 - s
    blocks = rows.reshape(3, -1, 8)
    eo = np.concatenate([blocks[:, :, 0::2], blocks[:, :, 1::2]], axis=2)  # (3, nblocks, 8)
    return eo.transpose(1, 0, 2).reshape(-1).astype(np.int32)
