"""Pointwise GEMM on the Cortex-A53 with the NEON micro-kernels of
codegen/microkernels/mbmicro_neon_pw.h (knob ``micro`` = "neon" or "neon_k").

Why two micro-kernels: a reduction along C (SMULL/SMLAL2 + SADALP, 16
channels per step, one horizontal sum per output at the end) is cheap per MAC
but its per-output cost is spread over only C MACs; MBConv expansions from 8
or 16 channels need the other axis.  "neon" reduces along C; "neon_k"
vectorizes along the output channels on a panel w[C][tile_oc] that the
schedule transposes once per block of output channels (a tiny TIR block;
the weights keep the graph's [K][C] layout, so every ``micro`` value shares
the plan's arguments).

Loop nest (TIR, then two tensorized calls per tile; for "neon_k" the ko loop
is outermost and holds the panel copy):

    q = {y_zp, act_min, act_max}                 # a 3-word buffer: intrinsics
    for po, ko:                                  #   take no scalar variables
      acc[tp][to] = 0
      mbmicro_neon_gemm_c|k(acc, x tile, w tile or panel, ...)
      mbmicro_neon_out(y tile, acc, bias, mult, shift, q, ...)

A tensorized region must be a rectangle, so the last tile of each axis
overlaps the one before it (it starts at ``P - tp`` / ``K - to``) and
recomputes a few outputs with the same values (as the DSP schedule does).

Requantization is the graph's rule: the intrinsic's description is the same
TIR expression (common.requantize_by) as every other kernel, and the C body
implements it bit-exactly (a graph on TFLite's rule keeps the output loop in
TIR, see neon_gemm_func); ``rq_mode`` picks the 32-bit form of the single
rule when every shift is at least 32 (exact there, see the header), and
``pairs_ok`` allows two products per int16 lane when no weight is -128.
"""

from __future__ import annotations

import numpy as np
from tvm import s_tir
from tvm.script import tirx as T

from mbmicro.codegen.ops import common as cm

HEADER = "mbmicro_neon_pw.h"
RQ_SINGLE64, RQ_SINGLE32, RQ_TFLITE = 0, 1, 2


def rq_mode(rule: str, shift) -> int:
    """The header's requantization mode for a layer's rule and shifts."""
    if rule == "tflite":
        return RQ_TFLITE
    return RQ_SINGLE32 if int(np.min(shift)) >= 32 else RQ_SINGLE64


def pairs_ok(weight) -> bool:
    """Two int8 products fit one int16 lane unless both are (-128) * (-128)."""
    return int(np.min(weight)) > -128


def _out(rule, acc, m, s, zp, lo, hi):
    """The output rule of a tile element (the accumulator already holds the bias)."""
    return cm.clamp_i8(cm.requantize_by(rule, acc, m, s), zp, lo, hi)


def _gemm_intrin(along: str, tp: int, to: int, C: int, xs: int, ws: int, pair: int) -> str:
    """acc[tp][to] += x[tp][C] * w^T, w a [to][C] tile ("c") or a [C][to] panel ("k")."""
    from mbmicro.codegen.microkernels import intrin

    name = f"mbmicro_neon_gemm_{along}_{tp}x{to}_c{C}_xs{xs}_ws{ws}_p{pair}"
    return intrin.ensure(name, lambda: _gemm_pair(along, tp, to, C, xs, ws, pair))


def _gemm_pair(along, tp, to, C, xs, ws, pair):
    wshape, wstrides = ((to, C), [ws, 1]) if along == "c" else ((C, to), [to, 1])

    def wv(j, c):
        return (j, c) if along == "c" else (c, j)

    @T.prim_func(s_tir=True)
    def desc(a: T.handle, b: T.handle, c: T.handle):
        X = T.match_buffer(a, (tp, C), "int8", offset_factor=1, strides=[xs, 1])
        W = T.match_buffer(b, wshape, "int8", offset_factor=1, strides=wstrides)
        A = T.match_buffer(c, (tp, to), "int32", offset_factor=1, strides=[to, 1])
        with T.sblock("root"):
            T.reads(A[0:tp, 0:to], X[0:tp, 0:C], W[0:wshape[0], 0:wshape[1]])
            T.writes(A[0:tp, 0:to])
            # unit tile axes keep their loop but get no block iterator (see blockize)
            if tp > 1 and to > 1:
                for i, j, k in T.grid(tp, to, C):
                    with T.sblock("update"):
                        vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                        A[vi, vj] = A[vi, vj] + T.Cast("int32", X[vi, vk]) * T.Cast("int32", W[wv(vj, vk)])
            elif tp > 1:
                for i, j, k in T.grid(tp, to, C):
                    with T.sblock("update"):
                        vi, vk = T.axis.remap("SR", [i, k])
                        A[vi, 0] = A[vi, 0] + T.Cast("int32", X[vi, vk]) * T.Cast("int32", W[wv(0, vk)])
            elif to > 1:
                for i, j, k in T.grid(tp, to, C):
                    with T.sblock("update"):
                        vj, vk = T.axis.remap("SR", [j, k])
                        A[0, vj] = A[0, vj] + T.Cast("int32", X[0, vk]) * T.Cast("int32", W[wv(vj, vk)])
            else:
                for i, j, k in T.grid(tp, to, C):
                    with T.sblock("update"):
                        vk = T.axis.remap("R", [k])
                        A[0, 0] = A[0, 0] + T.Cast("int32", X[0, vk]) * T.Cast("int32", W[wv(0, vk)])

    @T.prim_func(s_tir=True)
    def impl(a: T.handle, b: T.handle, c: T.handle):
        X = T.match_buffer(a, (tp, C), "int8", offset_factor=1, strides=[xs, 1])
        W = T.match_buffer(b, wshape, "int8", offset_factor=1, strides=wstrides)
        A = T.match_buffer(c, (tp, to), "int32", offset_factor=1, strides=[to, 1])
        with T.sblock("root"):
            T.reads(A[0:tp, 0:to], X[0:tp, 0:C], W[0:wshape[0], 0:wshape[1]])
            T.writes(A[0:tp, 0:to])
            if along == "c":
                T.evaluate(T.call_extern("void", "mbmicro_neon_gemm_c", A.access_ptr("rw"), X.access_ptr("r"),
                                         W.access_ptr("r"), C, xs, ws, tp, to, pair))
            else:
                T.evaluate(T.call_extern("void", "mbmicro_neon_gemm_k", A.access_ptr("rw"), X.access_ptr("r"),
                                         W.access_ptr("r"), C, xs, tp, to))

    return desc, impl


def _out_intrin(tp: int, to: int, ys: int, rule: str, rq: int) -> str:
    """y[tp][to] (rows ys apart) = clamp(requantize(acc) + q[0], q[1], q[2])."""
    from mbmicro.codegen.microkernels import intrin

    name = f"mbmicro_neon_out_{tp}x{to}_ys{ys}_{rule}_rq{rq}_nb"
    return intrin.ensure(name, lambda: _out_pair(tp, to, ys, rule, rq))


def _out_pair(tp, to, ys, rule, rq):
    # a unit tile axis keeps its loop but gets no block iterator (see _gemm_pair)
    def at(vi, vj):
        return (vi if tp > 1 else 0, vj if to > 1 else 0)

    @T.prim_func(s_tir=True)
    def desc(a: T.handle, m: T.handle, s: T.handle, q: T.handle, y: T.handle):
        A = T.match_buffer(a, (tp, to), "int32", offset_factor=1, strides=[to, 1])
        M = T.match_buffer(m, (to,), "int32", offset_factor=1)
        S = T.match_buffer(s, (to,), "int32", offset_factor=1)
        Q = T.match_buffer(q, (3,), "int32", offset_factor=1)
        Y = T.match_buffer(y, (tp, to), "int8", offset_factor=1, strides=[ys, 1])
        with T.sblock("root"):
            T.reads(A[0:tp, 0:to], M[0:to], S[0:to], Q[0:3])
            T.writes(Y[0:tp, 0:to])
            if tp > 1 and to > 1:
                for i, j in T.grid(tp, to):
                    with T.sblock("y"):
                        vi, vj = T.axis.remap("SS", [i, j])
                        Y[vi, vj] = _out(rule, A[vi, vj], M[vj], S[vj], Q[0], Q[1], Q[2])
            elif to > 1:
                for i, j in T.grid(tp, to):
                    with T.sblock("y"):
                        vj = T.axis.remap("S", [j])
                        Y[at(0, vj)] = _out(rule, A[at(0, vj)], M[vj], S[vj], Q[0], Q[1], Q[2])
            elif tp > 1:
                for i, j in T.grid(tp, to):
                    with T.sblock("y"):
                        vi = T.axis.remap("S", [i])
                        Y[at(vi, 0)] = _out(rule, A[at(vi, 0)], M[0], S[0], Q[0], Q[1], Q[2])
            else:
                for i, j in T.grid(tp, to):
                    with T.sblock("y"):
                        Y[0, 0] = _out(rule, A[0, 0], M[0], S[0], Q[0], Q[1], Q[2])

    @T.prim_func(s_tir=True)
    def impl(a: T.handle, m: T.handle, s: T.handle, q: T.handle, y: T.handle):
        A = T.match_buffer(a, (tp, to), "int32", offset_factor=1, strides=[to, 1])
        M = T.match_buffer(m, (to,), "int32", offset_factor=1)
        S = T.match_buffer(s, (to,), "int32", offset_factor=1)
        Q = T.match_buffer(q, (3,), "int32", offset_factor=1)
        Y = T.match_buffer(y, (tp, to), "int8", offset_factor=1, strides=[ys, 1])
        with T.sblock("root"):
            T.reads(A[0:tp, 0:to], M[0:to], S[0:to], Q[0:3])
            T.writes(Y[0:tp, 0:to])
            T.evaluate(T.call_extern("void", "mbmicro_neon_out", Y.access_ptr("w"), A.access_ptr("r"),
                                     M.access_ptr("r"), S.access_ptr("r"), Q.access_ptr("r"), ys, tp, to, rq))

    return desc, impl


def _w_tile(along: str, w, panel, K: int, to: int, vko, vj, vc):
    """Weight of tile channel vj, input channel vc: the graph's w[K][C] ("c") or the panel ("k")."""
    return panel[vc, vj] if along == "k" else w[T.min(vko * to, K - to) + vj, vc]


def tiles_func(P: int, C: int, K: int, tp: int, to: int, rule: str, along: str):
    """The GEMM as TIR tiles (overlapping last tiles), one builder for both micro-kernels:
    q holds the three scalars, the ko loop is outermost (for ``along`` = "k" it fills the
    panel, for "c" the schedule moves it inside), the tile's accumulators start from the
    (folded) bias, so the output intrinsic adds none."""
    NP, NK = -(-P // tp), -(-K // to)
    panel_shape = (C, to) if along == "k" else (1, 1)

    @T.prim_func(s_tir=True)
    def func(x: T.Buffer((P, C), "int8"), w: T.Buffer((K, C), "int8"), bias: T.Buffer((K,), "int32"),
             mult: T.Buffer((K,), "int32"), shift: T.Buffer((K,), "int32"), y_zp: T.int32,
             act_min: T.int32, act_max: T.int32, y: T.Buffer((P, K), "int8")):
        q = T.alloc_buffer((3,), "int32")
        acc = T.alloc_buffer((tp, to), "int32")
        panel = T.alloc_buffer(panel_shape, "int8")
        for n in range(3):
            with T.sblock("q"):
                vn = T.axis.remap("S", [n])
                q[vn] = T.Select(vn == 0, y_zp, T.Select(vn == 1, act_min, act_max))
        for ko in range(NK):
            if along == "k":
                for c, j in T.grid(C, to):
                    with T.sblock("panel"):
                        vko, vc, vj = T.axis.remap("SSS", [ko, c, j])
                        panel[vc, vj] = w[T.min(vko * to, K - to) + vj, vc]
            for po in range(NP):
                for i, j in T.grid(tp, to):
                    with T.sblock("acc_init"):
                        vko, vpo, vi, vj = T.axis.remap("SSSS", [ko, po, i, j])
                        acc[vi, vj] = bias[T.min(vko * to, K - to) + vj]
                for i, j, c in T.grid(tp, to, C):
                    with T.sblock("acc"):
                        vko, vpo, vi, vj, vc = T.axis.remap("SSSSR", [ko, po, i, j, c])
                        acc[vi, vj] = acc[vi, vj] + (T.Cast("int32", x[T.min(vpo * tp, P - tp) + vi, vc])
                                                     * T.Cast("int32", _w_tile(along, w, panel, K, to, vko, vj, vc)))
                for i, j in T.grid(tp, to):
                    with T.sblock("y"):
                        vko, vpo, vi, vj = T.axis.remap("SSSS", [ko, po, i, j])
                        y[T.min(vpo * tp, P - tp) + vi, T.min(vko * to, K - to) + vj] = _out(
                            rule, acc[vi, vj], mult[T.min(vko * to, K - to) + vj],
                            shift[T.min(vko * to, K - to) + vj], q[0], q[1], q[2])

    return func


def neon_gemm_func(P: int, C: int, K: int, knobs: dict, rule: str, rq: int, pair: bool):
    """Scheduled PrimFunc (the parameters of pointwise.gemm_func) calling the NEON micro-kernels."""
    along = {"neon": "c", "neon_k": "k"}[knobs["micro"]]
    tp, to = knobs["tile_p"], knobs["tile_oc"]
    sch = s_tir.Schedule(tiles_func(P, C, K, tp, to, rule, along))
    ab, yb, init = sch.get_sblock("acc"), sch.get_sblock("y"), sch.get_sblock("acc_init")
    if along == "c":  # pixel tiles outermost (the reduction along C re-reads x, not w)
        ko, po = sch.get_loops(ab)[:2]
        sch.reorder(po, ko)
    ws = C if along == "c" else to
    sch.tensorize(sch.get_loops(ab)[2], _gemm_intrin(along, tp, to, C, C, ws, int(pair)))
    if rule == "single":
        sch.tensorize(sch.get_loops(yb)[2], _out_intrin(tp, to, K, rule, rq))
    # TFLite's rule keeps its output loop in TIR: blockize simplifies that longer
    # expression into another form (and read order) than the description's, so the
    # tensorize pattern does not match; mbmicro_neon_out's TFLite mode waits for it
    if knobs["unroll"]:
        cm.unroll_all(sch, list(sch.get_loops(init)[-2:]))
    return sch.mod["main"]
