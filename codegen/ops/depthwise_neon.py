"""Depthwise convolution on the Cortex-A53 through the NEON row micro-kernel of
codegen/microkernels/mbmicro_neon_dw.h (knob ``micro`` = "neon").

Why its own parameters: the micro-kernel multiplies int16 weights (SMLAL int16 x int16,
16 channels per step), so the weights are widened once offline (same [KH][KW][C] order);
it subtracts x_zp from every tap (SSUBL, free with the widening) and skips out-of-image
taps, so the bias is NOT folded; and its requantization takes e = 31 - shift per channel
(the SRSHL amount of the 32-bit form).  The loop nest is TIR, one call per output row:

    for oh in OH:
      mbmicro_neon_dw_row(x, H, W, C, w16, KH, KW, S, top, left, oh, OW,
                          bias, mult, e, x_zp, rq, y_zp, act_min, act_max, &y[oh][0][0])

``rq`` is mbmicro_neon_pw.h's mode for the layer (pointwise_neon.rq_mode): the 32-bit
SQDMULH + SRSHL form when every shift is at least 32 (exact there), the 64-bit one
otherwise, or TFLite's rule; the kernel name's tag carries it.
"""

from __future__ import annotations

import numpy as np

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.ops import common as cm
from mbmicro.codegen.ops import pointwise_neon

HEADERS = ("mbmicro_neon_dw.h", pointwise_neon.HEADER)
FUNCTION = "mbmicro_neon_dw_row"
#: Largest KH * KW of the micro-kernel (MBMICRO_NEON_DW_MAX_TAPS).
MAX_TAPS = 81
#: Families whose depthwise ``micro`` knob offers "neon" (host: the portable twin).
FAMILIES = ("cortex-a53", "host")


def acc_bound(node, weight) -> int:
    """Largest |sum (x - x_zp) * w + bias| of any channel: |x - x_zp| <= 255."""
    c = weight.shape[2]
    bias = np.abs(np.asarray(node.params["bias"], np.int64))
    return int((bias + 255 * np.abs(weight.astype(np.int64)).reshape(-1, c).sum(axis=0)).max(initial=0))


def applies(node, weight, family: str) -> bool:
    """Offered on the NEON families when the kernel is exact: at most MAX_TAPS taps and the
    int32 sum plus bias provably inside int32 (the reference sums in int64)."""
    kh, kw = weight.shape[:2]
    return family in FAMILIES and kh * kw <= MAX_TAPS and acc_bound(node, weight) < (1 << 31) - 1


def kernel_args(graph, node, weight) -> list[KernelArg]:
    """x, w (int16, [KH][KW][C]), bias (not folded), mult, e = 31 - shift, x_zp, y_zp,
    act_min, act_max, y."""
    c = weight.shape[2]
    shift = np.broadcast_to(np.asarray(node.params["shift"], np.int64), (c,))
    return [cm.io_arg("input", "x", node.inputs[0]),
            KernelArg("const", "w", "const int16_t *", np.array(weight, dtype=np.int16).reshape(-1)),
            KernelArg("const", "bias", "const int32_t *", cm.as_i32(node.params["bias"], "bias")),
            cm.requant_args(node, c)[0],
            KernelArg("const", "rexp", "const int32_t *", cm.as_i32(31 - shift, "shift")),
            KernelArg("int", "x_zp", "int32_t", cm.zero_point(graph, node.inputs[0])),
            *cm.out_args(node, graph), cm.io_arg("output", "y", node.outputs[0])]


def rq_mode(graph, node) -> int:
    """The header's requantization mode for this layer."""
    return pointwise_neon.rq_mode(cm.graph_rule(graph), node.params["shift"])


def dw_func(H: int, W: int, C: int, KH: int, KW: int, S: int, pad, rq: int):
    """PrimFunc (x, w, bias, mult, rexp, x_zp, y_zp, act_min, act_max, y): one call per output row."""
    from tvm.script import tirx as T

    top, left, bottom, right = pad
    OH, OW = (H + top + bottom - KH) // S + 1, (W + left + right - KW) // S + 1

    @T.prim_func(s_tir=True)
    def func(x: T.Buffer((H * W * C,), "int8"), w: T.Buffer((KH * KW * C,), "int16"),
             bias: T.Buffer((C,), "int32"), mult: T.Buffer((C,), "int32"), rexp: T.Buffer((C,), "int32"),
             x_zp: T.int32, y_zp: T.int32, act_min: T.int32, act_max: T.int32,
             y: T.Buffer((OH * OW * C,), "int8")):
        for oh in T.serial(OH):
            T.evaluate(T.call_extern(
                "void", FUNCTION, T.address_of(x[0]), H, W, C, T.address_of(w[0]), KH, KW, S, top, left, oh,
                OW, T.address_of(bias[0]), T.address_of(mult[0]), T.address_of(rexp[0]), x_zp, rq, y_zp,
                act_min, act_max, T.address_of(y[oh * OW * C])))
    return func
