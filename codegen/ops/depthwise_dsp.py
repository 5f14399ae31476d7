"""Depthwise convolution through the SMLAD row micro-kernel (knob ``micro`` = "dsp").

Why a channel-planar int16 band: SMLAD multiplies two int16 pairs and adds both
products, so it does two MACs only if both taps of a pair belong to one output and
one channel.  In NHWC two taps of a channel are C bytes apart; in a planar int16
copy of one channel, two horizontally adjacent taps are one 32-bit word.  So:

    for c in C:                                # one channel at a time
      for band in OH / R:                      # R output rows per band
        wq[K][KP] = int16 weights of channel c, a zero after each row
        xq[(R-1)*S + K][XW] = int16 rows of x[., ., c] - x_zp, 0 outside the image
        for i in R:
          acc[OW] = 0
          mbmicro_dw_dsp_row(acc, &xq[i*S][0], XW, wq, OW, K, S)  # tensorize
          for j in OW: y[oh, j, c] = clamp(requantize(acc[j] + bias[c]) + zy)

The micro-kernel wants each channel's weights as int16 tap pairs, each row of K taps
padded to KP = K + 1 (even) with a zero weight.  They are expanded per channel into a
K x KP int16 stack array (at most 90 values, about 4 instructions each, once per channel)
rather than re-laid offline, so flash keeps the scalar schedule's int8 weights: offline
int16 pairs would have cost K * KP * 2 / (K * K) = 2.4-2.7x the depthwise weights
(+36 KiB on MobileNetV2 0.35/96, +56 KiB on MnasNet-A1, measured), which could push a
model over a board's flash.  The zero tap reads one more input column, so the band is
XW = (OW - 1) * S + KP columns wide.  The band holds x - x_zp (0 outside the image),
so the bias is NOT folded for this kernel (sum (x - zx) * w + bias is the same integer).

The band height R is the largest divisor of OH whose band fits BAND_LIMIT bytes of
stack: each input row is copied about (R - 1 + K/S) / R times.  ``decompose_padding``
splits the band copy into a zero fill and a copy without per-element tests (that needs
the constant 0 as the pad value, hence x - x_zp).  Requantization and clamping stay TIR
expressions of :mod:`.common` (one rounding rule): ``requantize_hi32`` (SMMUL, ADD, ASR;
shared with the pointwise GEMM) when the layer's constants make it exact, else the rule's int64 form;
the kernel name's tag says which ("dsph" / "dsp").

When the 32-bit form is exact ("dsph") and the folded sums below fit int32, the whole channel
runs in C instead (:func:`channel_func`, ``mbmicro_dw_dsp_channel``): the band holds x with
x_zp in its pad cells (bias folded offline), the accumulator stays in a register from bias to
store, outputs go two (stride 2) or four (stride 1) at a time so shared pair words are loaded
once, and requantization is SMMLA / ASR / SSAT with the output zero point folded into the
rounding term (record per channel), and a per-channel pre-scale 2^e gives every channel one
shift where it can (the ASR becomes SSAT's immediate).  Measured on QEMU (M4, instr/MAC, est.
cycles/MAC, band kernel -> channel kernel): 3x3 s2 24x24x48 5.73 / 8.65 -> 3.54 / 5.39,
3x3 s2 6x6x576 5.74 / 8.95 -> 3.03 / 4.64, 3x3 s1 12x12x96 4.66 / 7.03 -> 2.70 / 4.19
(benchmarks/results/cmsis_nn.md); MobileNetV2 0.35/96/10 depthwise 7.56 M -> 4.55 M instructions.
"""

from __future__ import annotations

import numpy as np
from tvm import s_tir, te, tirx
from tvm.script import tirx as T

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.microkernels import intrin
from mbmicro.codegen.ops import common as cm
from mbmicro.graph.fusion.stages import WIDE_MAX_K, band_cols

#: Stack bytes the int16 band may take (the targets' stack is 8 KiB).
BAND_LIMIT = 3072
HEADER = "mbmicro_depthwise.h"
#: Largest kernel side of the row micro-kernel (MBMICRO_DW_MAX_K in the header); the band's
#: columns (band_cols: OW outputs at stride S read K taps rounded up to even) and this limit are
#: defined once in mbmicro.graph.fusion.stages, whose wide rings are laid out as this band.
MAX_K = WIDE_MAX_K
FUNCTION = "mbmicro_dw_dsp_row"
#: The whole-channel kernel (band, taps and the 32-bit requantization in C).
CHANNEL_FUNCTION = "mbmicro_dw_dsp_channel"


def tap_pairs(k: int) -> int:
    """Columns of a weight row: K rounded up to even."""
    return k + (k & 1)


def band_rows(oh: int, k: int, s: int, cols: int, limit: int = BAND_LIMIT) -> int:
    """Output rows per band: the largest divisor of OH whose band fits ``limit`` bytes (at least 1)."""
    fits = [r for r in range(1, oh + 1) if oh % r == 0 and ((r - 1) * s + k) * cols * 2 <= limit]
    return max(fits, default=1)


def fits(ow: int, k: int, s: int, limit: int = BAND_LIMIT) -> bool:
    """Whether the band kernel applies: a one-row band fits the stack budget and a row has two
    outputs or more (TVM drops the unit output loop the tensorized block needs); otherwise the
    scalar schedule runs."""
    return ow >= 2 and k * band_cols(ow, k, s) * 2 <= limit


def _intrin(n: int, k: int, s: int, xs: int) -> str:
    """TensorIntrin ``acc[j] += sum x[kh][j*s + kw] * w[kh][kw]`` (j < n, kh < k, kw < KP)."""
    return intrin.ensure(f"{FUNCTION}_n{n}k{k}s{s}xs{xs}", lambda: _intrin_pair(n, k, s, xs))


def _intrin_pair(n: int, k: int, s: int, xs: int):
    kp, xw = tap_pairs(k), band_cols(n, k, s)

    @T.prim_func(s_tir=True)
    def desc(a: T.handle, b: T.handle, c: T.handle):
        A = T.match_buffer(a, (n,), "int32", offset_factor=1)
        X = T.match_buffer(b, (k, xw), "int16", offset_factor=1, strides=[xs, 1])
        Wt = T.match_buffer(c, (k, kp), "int16", offset_factor=1)
        with T.sblock("root"):
            T.reads(A[0:n], X[0:k, 0:xw], Wt[0:k, 0:kp])
            T.writes(A[0:n])
            for j, kh, kw in T.grid(n, k, kp):
                with T.sblock("update"):
                    vj, vkh, vkw = T.axis.remap("SRR", [j, kh, kw])
                    A[vj] = A[vj] + T.Cast("int32", X[vkh, vj * s + vkw]) * T.Cast("int32", Wt[vkh, vkw])

    @T.prim_func(s_tir=True)
    def impl(a: T.handle, b: T.handle, c: T.handle):
        A = T.match_buffer(a, (n,), "int32", offset_factor=1)
        X = T.match_buffer(b, (k, xw), "int16", offset_factor=1, strides=[xs, 1])
        Wt = T.match_buffer(c, (k, kp), "int16", offset_factor=1)
        with T.sblock("root"):
            T.reads(A[0:n], X[0:k, 0:xw], Wt[0:k, 0:kp])
            T.writes(A[0:n])
            T.evaluate(T.call_extern("void", FUNCTION, A.access_ptr("rw"), X.access_ptr("r"), xs,
                                     Wt.access_ptr("r"), n, k, s))

    return desc, impl


def _band_value(x, x_zp, h, v, H: int, W: int, top: int, left: int, rows: int, cols: int, c):
    """int16 ``x - x_zp`` at padded (h, v); 0 outside the image (a constant, so decompose_padding
    can split the band copy into a zero fill and a test-free copy of the in-image values)."""
    conds = []
    if top:
        conds.append(h >= top)
    if rows - top > H:
        conds.append(h < top + H)
    if left:
        conds.append(v >= left)
    if cols - left > W:
        conds.append(v < left + W)
    val = (x[h - top, v - left, c].astype("int32") - x_zp).astype("int16")
    return tirx.if_then_else(tirx.all(*conds), val, tirx.const(0, "int16")) if conds else val


def _output(rule: str, high_word: bool, acc, mult, shift, y_zp, lo, hi):
    """Requantized, clamped int8 output: 32-bit when exact, else the rule's int64 expression."""
    if high_word:
        return cm.clamp_i8_32(cm.requantize_hi32(acc, mult, shift), y_zp, lo, hi)
    return cm.clamp_i8(cm.requantize_by(rule, acc, mult, shift), y_zp, lo, hi)


def acc_bound(node, weight):
    """Largest |sum (x - x_zp) * w + bias| per channel: |x - x_zp| <= 255."""
    import numpy as np

    c = weight.shape[2]
    bias = np.abs(np.asarray(node.params["bias"], np.int64))
    return bias + 255 * np.abs(weight.astype(np.int64)).reshape(-1, c).sum(axis=0)


def applies(graph, node, weight, ow: int, k: int, s: int) -> bool:
    """Whether the band kernel can run this node exactly: square kernel up to MAX_K, a band
    within the stack budget (:func:`fits`), and accumulator + bias within int32 (the
    kernel adds them in int32; the reference in int64)."""
    square = weight.shape[0] == weight.shape[1] == k
    return square and k <= MAX_K and fits(ow, k, s) and bool(acc_bound(node, weight).max() < (1 << 31) - 1)


def kernel_args(graph, node, weight) -> tuple[list, bool]:
    """(C parameters, high_word) of the band kernel for a depthwise node with int8 ``weight``
    (KH, KW, C): the bias NOT folded (the band holds x - x_zp), x_zp always; high_word when
    the rule is the default one and its 32-bit form is exact."""
    import numpy as np

    c = weight.shape[2]
    bias = cm.as_i32(node.params["bias"], "bias")
    x_zp = cm.zero_point(graph, node.inputs[0])
    args = [cm.io_arg("input", "x", node.inputs[0]),
            KernelArg("const", "w", "const int8_t *", np.array(weight, dtype=np.int8)),
            KernelArg("const", "bias", "const int32_t *", bias),
            *cm.requant_args(node, c),
            KernelArg("int", "x_zp", "int32_t", x_zp),
            *cm.out_args(node, graph), cm.io_arg("output", "y", node.outputs[0])]
    shift = next(a.value for a in args if a.name == "shift")
    lo, hi = cm.HI32_SHIFTS  # acc + bias fits int32: applies() checked it
    high = cm.graph_rule(graph) == "single" and bool(shift.size and shift.min() >= lo and shift.max() <= hi)
    return args, high


def _unroll_copy(sch, loop) -> None:
    """Unroll the band copy's column loop by 4 (or 2): gcc leaves it rolled, and a rolled
    iteration is 5 instructions for one LDRSB / SUB / STRH."""
    extent = int(sch.get(loop).extent)
    factor = next((f for f in (4, 2) if extent % f == 0 and extent > f), 1)
    if factor > 1:
        sch.unroll(sch.split(loop, [None, factor])[1])


def dw_dsp_func(H, W, C, K, S, pad, rule="single", high_word=False):
    """TE + schedule of the band kernel: parameters x, w (K, K, C), bias (not folded), mult, shift,
    x_zp, y_zp, act_min, act_max, y; ``high_word``: requantize with
    common.requantize_hi32 (the caller checked it is exact)."""
    top, left, bottom, right = pad
    OH, OW = (H + top + bottom - K) // S + 1, (W + left + right - K) // S + 1
    KP, XW = tap_pairs(K), band_cols(OW, K, S)
    HP = (OH - 1) * S + K
    R = band_rows(OH, K, S, XW)
    x = te.placeholder((H, W, C), "int8", name="x")
    w = te.placeholder((K, K, C), "int8", name="w")
    # the channel's weights as int16 tap pairs, a zero after each row of odd K: one small
    # stack copy per channel, so flash keeps the int8 weights of the scalar schedule
    wq = te.compute((C, K, KP), lambda c, kh, kw: tirx.if_then_else(
        kw < K, w[kh, tirx.min(kw, K - 1), c].astype("int16"), tirx.const(0, "int16")), name="wq")
    bias = te.placeholder((C,), "int32", name="bias")
    mult = te.placeholder((C,), "int32", name="mult")
    shift = te.placeholder((C,), "int32", name="shift")
    x_zp = cm.int_var("x_zp")
    y_zp, lo, hi = cm.int_var("y_zp"), cm.int_var("act_min"), cm.int_var("act_max")
    xq = te.compute((C, HP, XW), lambda c, h, v: _band_value(x, x_zp, h, v, H, W, top, left, HP, XW, c),
                    name="xq")
    kh, kw = te.reduce_axis((0, K), name="kh"), te.reduce_axis((0, KP), name="kw")
    acc = te.compute(
        (C, OH, OW),
        lambda c, i, j: te.sum(xq[c, i * S + kh, j * S + kw].astype("int32") * wq[c, kh, kw].astype("int32"),
                               axis=[kh, kw]),
        name="acc")
    # acc + bias as an int32 stage of its own: inside one expression TVM's simplifier would widen
    # both terms to int64 before the add, and the multiply would become a 64 x 64 one
    accb = te.compute((C, OH, OW), lambda c, i, j: acc[c, i, j] + bias[c], name="accb")
    y = te.compute(
        (OH, OW, C),
        lambda i, j, c: _output(rule, high_word, accb[c, i, j], mult[c], shift[c], y_zp, lo, hi),
        name="y")
    params = [x, w, bias, mult, shift, x_zp, y_zp, lo, hi, y]
    sch = s_tir.Schedule(te.create_prim_func(params))
    yb, ab, qb = sch.get_sblock("y"), sch.get_sblock("acc"), sch.get_sblock("xq")
    i, j, c = sch.get_loops(yb)
    sch.reorder(c, i, j)
    ib, ii = sch.split(i, [None, R])
    sch.compute_at(sch.get_sblock("accb"), j)
    sch.compute_at(ab, ii, preserve_unit_loops=True)
    sch.compute_at(qb, ib)
    wb = sch.get_sblock("wq")
    sch.compute_at(wb, c)
    if KP > K:
        sch.decompose_padding(wb, sch.get_loops(wb)[-2])
    if any(pad) or XW - left > W:
        # x_zp into the whole band, then the in-image values: no per-element test
        sch.decompose_padding(qb, sch.get_loops(qb)[-2])
    _unroll_copy(sch, sch.get_loops(qb)[-1])
    aj = sch.get_loops(ab)[-3]
    sch.decompose_reduction(ab, aj)
    sch.tensorize(aj, _intrin(OW, K, S, XW))
    return sch.mod["main"]


# ---- the whole-channel kernel (32-bit requantization exact) ---------------------------

def folded_bound(node, weight, x_zp: int):
    """Largest |bias - x_zp * sum w + sum x * w| per channel of the channel kernel (|x| <= 128)."""
    import numpy as np

    c = weight.shape[2]
    w = weight.astype(np.int64).reshape(-1, c)
    folded = np.asarray(node.params["bias"], np.int64) - int(x_zp) * w.sum(axis=0)
    return np.abs(folded) + 128 * np.abs(w).sum(axis=0)


#: Largest pre-scale exponent: 127 * 2^8 still fits an int16 tap.
MAX_PRESCALE = 8


def _prescales(shift):
    """Candidate (sh_all, e per channel) of the channel kernel, best first: one shift s' for every
    channel (e = s' - s; sh_all = s' - 32, a literal of the kernel), then each channel's own
    (e = max(0, 33 - s); sh_all = 0).  Only those with every e <= MAX_PRESCALE and s + e in
    cm.HI32_SHIFTS."""
    import numpy as np

    lo, hi = cm.HI32_SHIFTS
    s = np.asarray(shift, np.int64)
    if s.size == 0 or int(s.min()) < 1:
        return []
    uniform = max(lo, int(s.max()))
    out = []
    for sh_all, e in ((uniform - 32, uniform - s), (0, np.maximum(0, lo - s))):
        if int(e.max()) <= MAX_PRESCALE and int((s + e).max()) <= hi:
            out.append((sh_all, e))
    return out


def channel_records(graph, node, weight, e):
    """(C, 4) int64 {bias' * 2^e, M, rz, sh * 256 + e} per channel (mbmicro_dw_dsp_channel), with
    s' = s + e: bias' = bias - x_zp * sum w, rz = 2^(s'-33) + y_zp * 2^(s'-32), sh = s' - 32."""
    import numpy as np

    c = weight.shape[2]
    x_zp, y_zp = cm.zero_point(graph, node.inputs[0]), cm.zero_point(graph, node.outputs[0])
    w = weight.astype(np.int64).reshape(-1, c)
    e = np.broadcast_to(np.asarray(e, np.int64), (c,))
    folded = (np.asarray(node.params["bias"], np.int64) - int(x_zp) * w.sum(axis=0)) << e
    mult = np.broadcast_to(np.asarray(node.params["multiplier"], np.int64), (c,))
    shift = np.broadcast_to(np.asarray(node.params["shift"], np.int64), (c,)) + e
    rz = (np.int64(1) << (shift - 33)) + int(y_zp) * (np.int64(1) << (shift - 32))
    return np.stack([folded, mult, rz, (shift - 32) * 256 + e], axis=1)


def _fits(graph, node, weight, e) -> bool:
    """The scaled folded bias plus any sum of taps stays inside int32 (the band holds x, not
    x - x_zp), and so does hi32(acc * M) + rz (the zero point folded into the rounding term)."""
    import numpy as np

    bound = folded_bound(node, weight, cm.zero_point(graph, node.inputs[0])) << np.asarray(e, np.int64)
    rec = channel_records(graph, node, weight, e)
    hi = (bound * np.abs(rec[:, 1])) >> 32
    limit = (1 << 31) - 2
    return bool(bound.max() < limit and (hi + 1 + np.abs(rec[:, 2])).max() < limit)


def channel_plan(graph, node, weight):
    """(sh_all, e per channel) of the channel kernel for this node, or None where it cannot run
    it exactly (then the band kernel does)."""
    shift = np.broadcast_to(np.asarray(node.params["shift"]), (weight.shape[2],))
    return next(((sh, e) for sh, e in _prescales(shift) if _fits(graph, node, weight, e)), None)


def full_range(node) -> bool:
    """The clamp is the whole int8 range: the kernel saturates with one SSAT."""
    return tuple(cm.act_bounds(node)) == (-128, 127)


def channel_tag(node, sh_all: int) -> str:
    """Kernel-name tag of the channel kernel: its literals (common shift, clamp bounds) change its C."""
    lo, hi = (int(v) for v in cm.act_bounds(node))
    clamp = "" if full_range(node) else f"a{lo}_{hi}".replace("-", "m")
    return "dspc" + (f"s{sh_all}" if sh_all else "") + clamp


def channel_args(graph, node, weight, e) -> list:
    """C parameters of the channel kernel: x, w as (C, K, K) int8 (the same bytes, one
    channel contiguous), rq (channel_records as int32), x_zp (the pad value), y.  The clamp
    bounds and the common shift are literals of the kernel (its name says them)."""
    import numpy as np

    x_zp = cm.zero_point(graph, node.inputs[0])
    w_ckk = np.ascontiguousarray(np.transpose(weight, (2, 0, 1)), dtype=np.int8)
    rq = cm.as_i32(channel_records(graph, node, weight, e).reshape(-1), "depthwise record")
    return [cm.io_arg("input", "x", node.inputs[0]),
            KernelArg("const", "w", "const int8_t *", w_ckk),
            KernelArg("const", "rq", "const int32_t *", rq),
            KernelArg("int", "x_zp", "int32_t", x_zp),
            cm.io_arg("output", "y", node.outputs[0])]


def channel_func(H, W, C, K, S, pad, sh_all: int, lo: int, hi: int):
    """PrimFunc (x, w, rq, x_zp, y): one call of mbmicro_dw_dsp_channel per channel, shape
    values, the common shift (0: per channel) and the clamp bounds as literals, the band a
    stack array."""
    top, left, bottom, right = pad
    OH, OW = (H + top + bottom - K) // S + 1, (W + left + right - K) // S + 1
    XW = band_cols(OW, K, S)
    R = band_rows(OH, K, S, XW)
    NB = ((R - 1) * S + K) * XW

    @T.prim_func(s_tir=True)
    def func(x: T.Buffer((H * W * C,), "int8"), w: T.Buffer((C * K * K,), "int8"), rq: T.Buffer((C * 4,), "int32"),
             x_zp: T.int32, y: T.Buffer((OH * OW * C,), "int8")):
        band = T.alloc_buffer((NB,), "int16")
        for c in T.serial(C):
            T.evaluate(T.call_extern("void", CHANNEL_FUNCTION, T.address_of(x[c]), H, W, C,
                                     T.address_of(w[c * K * K]), K, S, top, left, OH, OW, R, sh_all,
                                     T.address_of(rq[c * 4]), x_zp, lo, hi, band.access_ptr("rw"),
                                     T.address_of(y[c])))
    return func


# ---- the wide-ring row kernel of fused regions ----------------------------------------

#: The ring kernel (fused regions' wide rings, docs/MEMORY.md): the channel kernel's outputs and
#: rounding on K int16 ring rows widened once each, instead of a band re-widened per call.
RING_FUNCTION = "mbmicro_dw_ring_channel"


def ring_applies(graph, node) -> bool:
    """Whether a row copy of ``node`` can read a wide ring: the channel kernel runs it (dsp
    offered, the default rule, a channel plan: its constants and folded sums fit)."""
    weight = node.params["weight"].astype("int8")
    k = int(node.attrs["kernel"][0])
    s = int(node.attrs.get("stride", 1))
    pad = [int(p) for p in node.attrs["pad"]]
    w = int(graph.tensors[node.inputs[0]].shape[2])
    ow = (w + pad[1] + pad[3] - k) // s + 1
    return (cm.graph_rule(graph) == "single" and applies(graph, node, weight, ow, k, s)
            and channel_plan(graph, node, weight) is not None)


def ring_args(graph, node, weight, e) -> list:
    """C parameters of the ring kernel: x (the wide ring, int16), w (C, K, K) int8, rq (the
    channel records), first (the window's first padded row, given per call by the region's
    loop: KernelArg kind "row"), y."""
    w_ckk = np.ascontiguousarray(np.transpose(weight, (2, 0, 1)), dtype=np.int8)
    rq = cm.as_i32(channel_records(graph, node, weight, e).reshape(-1), "depthwise record")
    return [KernelArg("input", "x", "const int16_t *", node.inputs[0]),
            KernelArg("const", "w", "const int8_t *", w_ckk),
            KernelArg("const", "rq", "const int32_t *", rq),
            KernelArg("row", "first", "int32_t", "first"),
            cm.io_arg("output", "y", node.outputs[0])]


def ring_func(C, K, S, OW, G, R, sh_all: int, lo: int, hi: int):
    """PrimFunc (x, w, rq, first, y): one call of mbmicro_dw_ring_channel per channel on a ring of
    R slots of C * XW int16 (channel c's plane at c * XW), G output rows of OW pixels."""
    XW = band_cols(OW, K, S)
    RS = C * XW

    @T.prim_func(s_tir=True)
    def func(x: T.Buffer((R * RS,), "int16"), w: T.Buffer((C * K * K,), "int8"), rq: T.Buffer((C * 4,), "int32"),
             first: T.int32, y: T.Buffer((G * OW * C,), "int8")):
        for c in T.serial(C):
            T.evaluate(T.call_extern("void", RING_FUNCTION, T.address_of(x[c * XW]), RS, R, first, G,
                                     T.address_of(w[c * K * K]), K, S, OW, C, sh_all,
                                     T.address_of(rq[c * 4]), lo, hi, T.address_of(y[c])))
    return func
