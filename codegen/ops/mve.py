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


def dw_requant(bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, raw_bias: np.ndarray) -> np.ndarray:
    """Per block of 8 channels: bias' (x_zp folded in), M, (31 - s), the raw bias (for border
    pixels, which skip their padded taps), each as channels 0,2,4,6 then 1,3,5,7 (the
    even/odd lanes VMULLB/VMULLT give), int32, zero past C."""
    s = _check_mode_shifts(shift)
    C = len(s)
    c8 = -(-C // 8) * 8
    rows = np.zeros((4, c8), np.int64)
    rows[0, :C], rows[1, :C], rows[2, :C], rows[3, :C] = bias, mult, 31 - s, raw_bias
    blocks = rows.reshape(4, -1, 8)
    eo = np.concatenate([blocks[:, :, 0::2], blocks[:, :, 1::2]], axis=2)  # (4, nblocks, 8)
    return eo.transpose(1, 0, 2).reshape(-1).astype(np.int32)


# ------------------------------------------------------------------ kernels (TIR)
#
# The loop nest over micro-kernel calls is TIR, printed by TVM like every kernel:
# pointwise walks (pixel pair, block of 4 output channels) tiles, depthwise walks output
# rows; each step is one call_extern into the header, with the shape as literals so gcc
# specializes the inlined body.

HEADER = "mbmicro_mve.h"


def eligible(rule: str) -> bool:
    """The header implements the single-rounding rule only (TFLite's rule: no MVE kernel)."""
    return rule == "single"


def pw_args(graph, node, weight_kc: np.ndarray):
    """x, w (re-laid), rq (records), y_zp, act_min, act_max, y."""
    from mbmicro.codegen.kernel_types import KernelArg
    from mbmicro.codegen.ops import common as cm

    K = weight_kc.shape[0]
    bias = cm.folded_bias(node.params["bias"], weight_kc, cm.zero_point(graph, node.inputs[0]))
    mult = np.broadcast_to(node.params["multiplier"], (K,))
    shift = np.broadcast_to(node.params["shift"], (K,))
    return [cm.io_arg("input", "x", node.inputs[0]),
            KernelArg("const", "w", "const int8_t *", pw_weights(weight_kc)),
            KernelArg("const", "rq", "const int32_t *", pw_requant(bias, mult, shift)),
            *cm.out_args(node, graph), cm.io_arg("output", "y", node.outputs[0])]


#: Input channels from which the pointwise kernel uses the 3 x 4 tile (``mbmicro_mve_pw_tile_3x4``:
#: 6 VMLADAVA sums per 5 loads, no register shuffling), below it the 2 x 4 one, whose fixed
#: work per tile is smaller where few MACs share it.  Measured on the M55 (QEMU, generated
#: one-layer builds, instr / est. cycles per MAC, 3x4 against 2x4): C = 32: 0.35 / 0.28,
#: C = 64: 0.232 / 0.229, C = 80: 0.211 / 0.221 (est. cycles 0.373 / 0.362), C = 96: 0.199 /
#: 0.259, C = 320: 0.146 / 0.225.  Equal to the header's MBMICRO_MVE_PW3_MIN_C.
PW3_MIN_C = 96


#: With a partial last 16-input chunk (C % 16 != 0), which each of the 3 x 4 tile's two
#: passes predicates, the 3 x 4 tile wins from this many inputs on (measured in RexNet 0.35/80:
#: 20x20x120 -> 24 +4% and 10x10x168 -> 32 +1.6% with it, 3x3x330 -> 59 and up faster).
PW3_MIN_C_TAIL = 192


def pw_tile(P: int, C: int) -> int:
    """Pixels per pointwise tile: 3 for wide reductions over 3 pixels or more, else 2 (one
    pixel, an SE block's FC: the 3 x 4 tile would make two passes for 4 outputs).  Equal to
    the header's rule in mbmicro_mve_pw_s8."""
    wide = C >= PW3_MIN_C and (C % 16 == 0 or C >= PW3_MIN_C_TAIL)
    return 3 if wide and P >= 3 else 2


def pw_func(P: int, C: int, K: int, mode: int):
    """PrimFunc (x, w, rq, y_zp, act_min, act_max, y): pixel tiles x channel blocks of 4.

    The 3-pixel tile runs the full tiles, then the P % 3 pixels left in calls of their own,
    so that the full tiles' pixel count is a literal (measured: 0.19 -> 0.146 instr/MAC on
    the 3x3x320 -> 1280 head); the 2-pixel tile measured slightly slower that way (P = 9,
    56 -> 336: +1.6%), so its pixel count stays ``min(2, P - 2 * po)``."""
    from tvm.script import tirx as T

    tp = pw_tile(P, C)
    tile = f"mbmicro_mve_pw_tile_{tp}x4"
    NK, NW, NR = -(-K // 4), -(-K // 4) * 4 * C, -(-K // 4) * 12
    NF, NT = (P // 3, P % 3) if tp == 3 else (-(-P // 2), 0)
    NKT = NK if NT else 0  # the tail's blocks (none when the full tiles cover P)

    def call(x, w, rq, y_zp, lo, hi, y, p0, n, kb):
        return T.call_extern("void", tile, T.address_of(x[p0 * C]), n, C, T.address_of(w[kb * 4 * C]),
                             T.address_of(rq[kb * 12]), T.min(4, K - kb * 4), K, mode, y_zp, lo, hi,
                             T.address_of(y[p0 * K + kb * 4]))

    @T.prim_func(s_tir=True)
    def func(x: T.Buffer((P * C,), "int8"), w: T.Buffer((NW,), "int8"), rq: T.Buffer((NR,), "int32"),
             y_zp: T.int32, act_min: T.int32, act_max: T.int32, y: T.Buffer((P * K,), "int8")):
        for po, kb in T.grid(NF, NK):
            T.evaluate(call(x, w, rq, y_zp, act_min, act_max, y, po * tp, T.min(tp, P - po * tp), kb))
        for kb in T.serial(NKT):
            T.evaluate(call(x, w, rq, y_zp, act_min, act_max, y, NF * tp, NT, kb))
    return func


def dw_args(graph, node, weight: np.ndarray, pad) -> list:
    """x, w (KH x KW x C as is), rq (records), [x_zp], y_zp, act_min, act_max, y."""
    from mbmicro.codegen.kernel_types import KernelArg
    from mbmicro.codegen.ops import common as cm

    KH, KW, C = weight.shape
    x_zp = cm.zero_point(graph, node.inputs[0])
    bias = cm.folded_bias(node.params["bias"], weight.reshape(KH * KW, C).T, x_zp)
    mult = np.broadcast_to(node.params["multiplier"], (C,))
    shift = np.broadcast_to(node.params["shift"], (C,))
    args = [cm.io_arg("input", "x", node.inputs[0]),
            KernelArg("const", "w", "const int8_t *", np.array(weight, dtype=np.int8)),
            KernelArg("const", "rq", "const int32_t *",
                      dw_requant(bias, mult, shift, cm.as_i32(node.params["bias"], "bias")))]
    if any(pad):
        args.append(KernelArg("int", "x_zp", "int32_t", x_zp))
    return [*args, *cm.out_args(node, graph), cm.io_arg("output", "y", node.outputs[0])]


def dw_func(H: int, W: int, C: int, KH: int, KW: int, S: int, pad, mode: int):
    """PrimFunc (x, w, rq, [x_zp], y_zp, act_min, act_max, y): one call per output row."""
    from tvm.script import tirx as T

    top, left, bottom, right = pad
    OH, OW = (H + top + bottom - KH) // S + 1, (W + left + right - KW) // S + 1
    NR = -(-C // 8) * 32

    def row(x, w, rq, x_zp, y_zp, lo, hi, y, oh):
        return T.call_extern("void", "mbmicro_mve_dw_row", T.address_of(x[0]), H, W, C, T.address_of(w[0]),
                             KH, KW, S, top, left, oh, OW, T.address_of(rq[0]), x_zp, mode, y_zp, lo, hi,
                             T.address_of(y[oh * OW * C]))

    if any(pad):
        @T.prim_func(s_tir=True)
        def func(x: T.Buffer((H * W * C,), "int8"), w: T.Buffer((KH * KW * C,), "int8"),
                 rq: T.Buffer((NR,), "int32"), x_zp: T.int32, y_zp: T.int32, act_min: T.int32,
                 act_max: T.int32, y: T.Buffer((OH * OW * C,), "int8")):
            for oh in T.serial(OH):
                T.evaluate(row(x, w, rq, x_zp, y_zp, act_min, act_max, y, oh))
        return func

    @T.prim_func(s_tir=True)
    def func_nopad(x: T.Buffer((H * W * C,), "int8"), w: T.Buffer((KH * KW * C,), "int8"),
                   rq: T.Buffer((NR,), "int32"), y_zp: T.int32, act_min: T.int32, act_max: T.int32,
                   y: T.Buffer((OH * OW * C,), "int8")):
        for oh in T.serial(OH):
            T.evaluate(row(x, w, rq, 0, y_zp, act_min, act_max, y, oh))
    return func_nopad


# ------------------------------------------------------------------ the knob

#: Families whose ``micro`` knob offers "mve": the M55 (default there: it wins on every
#: measured shape), and the host, where the same kernel runs the header's portable twin
#: (so host tests exercise the exact code path the M55 builds).
FAMILIES = ("cortex-m55", "host")


def with_mve(plan, family: str, rule: str, build, args, offered: bool = True):
    """``plan`` with "mve" added to its ``micro`` knob (created as ["none"] if absent);
    ``offered`` False: the shape has no MVE kernel, the knob only gets its key.

    With micro="mve" the kernel is ``build(knobs)`` with parameters ``args`` (its own
    weight and record layouts), includes the header, and its name's tag is "mve" (the
    other knobs do not change its source).  Other values keep the plan as it was, names
    included.
    """
    space = dict(plan.space)
    space.setdefault("micro", ["none"])
    defaults = dict(plan.defaults)
    defaults.setdefault("micro", space["micro"][0])
    if offered and family in FAMILIES and eligible(rule):
        space["micro"] = [*space["micro"], "mve"]
        if family == "cortex-m55":
            defaults["micro"] = "mve"
    base_build, base_tag, base_layout, base_headers = plan.build, plan.tag, plan.arg_layout, plan.headers
    base_args = plan.args
    plan.space, plan.defaults = space, defaults
    plan.build = lambda kn: build(kn) if kn["micro"] == "mve" else base_build(kn)
    plan.tag = lambda kn: "mve" if kn["micro"] == "mve" else base_tag(kn)
    plan.arg_layout = lambda kn: args if kn["micro"] == "mve" else (base_layout(kn) if base_layout else base_args)
    plan.headers = lambda kn: (HEADER,) if kn["micro"] == "mve" else base_headers(kn)
    return plan


#: Largest im2col patch (KH*KW*I bytes, two of them on the stack) the conv2d kernel takes.
PATCH_LIMIT = 512


def cv_eligible(KH: int, KW: int, I: int, G: int) -> bool:
    """Ungrouped convs whose two patches stay small on the stack (the stem: 27 bytes)."""
    return G == 1 and KH * KW * I <= PATCH_LIMIT


def cv_args(graph, node, weight: np.ndarray, pad) -> list:
    """x, w (O x KH*KW*I re-laid as pointwise), rq, [x_zp], y_zp, act_min, act_max, y."""
    args = pw_args(graph, node, weight.reshape(weight.shape[0], -1))
    if any(pad):
        from mbmicro.codegen.kernel_types import KernelArg
        from mbmicro.codegen.ops import common as cm

        args.insert(3, KernelArg("int", "x_zp", "int32_t", cm.zero_point(graph, node.inputs[0])))
    return args


def cv_func(H: int, W: int, I: int, O: int, KH: int, KW: int, S: int, pad, mode: int):
    """PrimFunc (x, w, rq, [x_zp], y_zp, act_min, act_max, y): one im2col + GEMM call per row."""
    from tvm.script import tirx as T

    top, left, bottom, right = pad
    OH, OW = (H + top + bottom - KH) // S + 1, (W + left + right - KW) // S + 1
    NW, NR = -(-O // 4) * 4 * KH * KW * I, -(-O // 4) * 12

    def row(x, w, rq, x_zp, y_zp, lo, hi, y, oh):
        return T.call_extern("void", "mbmicro_mve_conv_row", T.address_of(x[0]), H, W, I, KH, KW, S, top, left,
                             oh, OW, T.address_of(w[0]), T.address_of(rq[0]), O, x_zp, mode, y_zp, lo, hi,
                             T.address_of(y[oh * OW * O]))

    if any(pad):
        @T.prim_func(s_tir=True)
        def func(x: T.Buffer((H * W * I,), "int8"), w: T.Buffer((NW,), "int8"), rq: T.Buffer((NR,), "int32"),
                 x_zp: T.int32, y_zp: T.int32, act_min: T.int32, act_max: T.int32,
                 y: T.Buffer((OH * OW * O,), "int8")):
            for oh in T.serial(OH):
                T.evaluate(row(x, w, rq, x_zp, y_zp, act_min, act_max, y, oh))
        return func

    @T.prim_func(s_tir=True)
    def func_nopad(x: T.Buffer((H * W * I,), "int8"), w: T.Buffer((NW,), "int8"), rq: T.Buffer((NR,), "int32"),
                   y_zp: T.int32, act_min: T.int32, act_max: T.int32, y: T.Buffer((OH * OW * O,), "int8")):
        for oh in T.serial(OH):
            T.evaluate(row(x, w, rq, 0, y_zp, act_min, act_max, y, oh))
    return func_nopad
