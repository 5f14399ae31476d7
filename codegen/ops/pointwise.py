"""Pointwise (1x1, stride 1) convolution: the main cost of an MBConv network, as a
register-tiled int8 GEMM ``y[P, K] = x[P, C] w[K, C]^T`` (a grouped one with few groups
runs on its block-diagonal dense weights: :func:`dense_weight`).

Schedule template (after CMSIS-NN's 2x2 "mat_mult_nt_t" kernel and TVM's
old Cortex-M GEMM schedules, generalized to a tile_p x tile_oc tile):

    for po in P / tile_p:            # output pixels
      for ko in K / tile_oc:         # output channels
        acc[tile_p][tile_oc] = 0     # register tile (unrolled)
        for c in C:                  # reduction innermost, contiguous in x and w
          acc[i][j] += x[po*tp+i, c] * w[ko*to+j, c]     (unrolled i, j)
        y[...] = clamp(requantize(acc + bias') + zy)     (unrolled i, j)

Each reduction step loads tile_p + tile_oc bytes for tile_p*tile_oc MACs.
Shapes that are not multiples of the tile are padded *virtually*: the last
tile re-reads the last valid row/channel (clamped index) and the store is
predicated, so the inner loop never tests bounds.

The input zero point is folded into the bias offline (no padding here), so
the kernel has no x_zp parameter.  Knobs: tile_p, tile_oc, unroll (0/1: the
tile loops unrolled or left as loops for gcc), micro ("none" | "dsp" | "dspx" | "neon" | "neon_k" | "mve").

``micro="neon"`` / ``"neon_k"`` (Cortex-A53 family and host) use the NEON
micro-kernels of codegen/microkernels/mbmicro_neon_pw.h, reducing along C or
vectorized along the output channels (:mod:`.pointwise_neon`); on the A53
their tile is chosen from the shape (:func:`neon_defaults`).

``micro="dsp"`` tensorizes the tile's reduction with the C micro-kernel
``mbmicro_gemm_dsp_<tp>x<to>`` (codegen/microkernels/mbmicro_gemm.h: SXTB16 +
SMLAD, 4 channels per word on Cortex-M4/M7, a portable twin elsewhere).  A
tensorized region must be a rectangle, so that schedule pads no index:
the last tile of each axis *overlaps* the one before it (it starts at
``P - tp`` / ``K - to``), recomputing and re-storing a few outputs with the
same values.  Channel tiles are the outer loop (a tile's weights and
requantization constants stay in registers while the pixels stream by), the
folded bias initializes the accumulators, and bias, requantization and
clamping stay in TIR (one rule).  Where a layer's shifts are 33..62 and
acc + bias provably fits int32 the requantization is the equal 32-bit form
(common.requantize_hi32; tag suffix "h"), otherwise the 64-bit one.

``micro="dspx"`` (Cortex-M4/M7 default under the single-rounding rule, for layers with more
than one pixel; the host runs its twin) is the layer-step micro-kernel of
:mod:`.pointwise_dspx`: a tile of input rows widened to int16 once, every output channel
run over it, requantization (SMMLA, ASR, SSAT) and packed stores in the header, weights and
per-channel records re-laid offline.

``micro="mve"`` (Cortex-M55 default, and the host: its twin) is the Helium GEMM
tile of codegen/microkernels/mbmicro_mve.h with its own weight and
requantization-record layouts, see :mod:`mbmicro.codegen.ops.mve`: 2 pixels x 4
output channels, or 3 x 4 (two passes of 3 x 2, whose 6 VMLADAVA sums fit the
even registers gcc has) from ``mve.PW3_MIN_C`` input channels on.
"""

from __future__ import annotations

import numpy as np
from tvm import s_tir, te
from tvm.script import tirx as T

from mbmicro.codegen.knobs import fit, pick
from mbmicro.codegen.ops import common as cm
from mbmicro.codegen.ops import mve
from mbmicro.codegen.ops import pointwise_dspx as dspx
from mbmicro.codegen.ops import pointwise_neon as neon

MICRO = ["none", "dsp"]
#: the NEON micro-kernels exist for these families only (host: the portable twin)
NEON_FAMILIES = ("cortex-a53", "host")
NEON_MICRO = ["neon", "neon_k"]
GEMM_HEADER = "mbmicro_gemm.h"

TILE_P = [1, 2, 4, 8]
TILE_OC = [1, 2, 4, 8, 16]

_DEFAULTS = {
    # measured (QEMU): 2x4 beats 4x4 on the M55 (2.40 vs 3.41 instr/MAC on
    # 24x24x96->24); GCC 12 does not vectorize int8 widening MACs for MVE
    "cortex-m55": {"tile_p": 2, "tile_oc": 4, "unroll": 1, "micro": "none"},
    "cortex-a53": {"tile_p": 4, "tile_oc": 8, "unroll": 1, "micro": "none"},
    "host": {"tile_p": 4, "tile_oc": 8, "unroll": 1, "micro": "none"},
}


def gemm_func(P: int, C: int, K: int, knobs: dict, rule: str = "single"):
    """Scheduled PrimFunc (x, w, bias, mult, shift, y_zp, act_min, act_max, y)."""
    tp, to = knobs["tile_p"], knobs["tile_oc"]
    Pp, Kp = cm.padded(P, tp), cm.padded(K, to)
    pi, ki = cm.clamp_index(P, Pp), cm.clamp_index(K, Kp)
    x = te.placeholder((P, C), "int8", name="x")
    w = te.placeholder((K, C), "int8", name="w")
    bias = te.placeholder((K,), "int32", name="bias")
    mult = te.placeholder((K,), "int32", name="mult")
    shift = te.placeholder((K,), "int32", name="shift")
    y_zp, lo, hi = cm.int_var("y_zp"), cm.int_var("act_min"), cm.int_var("act_max")
    c = te.reduce_axis((0, C), name="c")
    acc = te.compute(
        (Pp, Kp),
        lambda p, k: te.sum(x[pi(p), c].astype("int32") * w[ki(k), c].astype("int32"), axis=c),
        name="acc")
    y = te.compute(
        (P, K),
        lambda p, k: cm.clamp_i8(cm.requantize_by(rule, acc[p, k] + bias[k], mult[k], shift[k]), y_zp, lo, hi),
        name="y")
    func = te.create_prim_func([x, w, bias, mult, shift, y_zp, lo, hi, y])

    sch = s_tir.Schedule(func)
    yb, ab = sch.get_sblock("y"), sch.get_sblock("acc")
    p, k = sch.get_loops(yb)
    po, pin = sch.split(p, [None, tp])
    ko, kin = sch.split(k, [None, to])
    sch.reorder(po, ko, pin, kin)
    sch.compute_at(ab, ko, preserve_unit_loops=True)
    ap, ak, ac = sch.get_loops(ab)[-3:]
    sch.reorder(ac, ap, ak)
    init = sch.decompose_reduction(ab, ac)
    if knobs["unroll"]:
        cm.unroll_all(sch, [ap, ak, pin, kin] + list(sch.get_loops(init)[-2:]))
    return sch.mod["main"]


#: cores whose default is a DSP micro-kernel: "dspx" (pointwise_dspx.defaults) where it applies,
#: else the SXTB16/SMLAD tile (TFLite's rule, one pixel; measured: it beats "none" on every shape)
DSP_FAMILIES = ("cortex-m4", "cortex-m7")


def dsp_defaults(P: int, C: int) -> dict:
    """The measured-best DSP tile (QEMU, M4, instructions per MAC; PR notes / BENCHMARKS.md).

    2x2 keeps the 13 usable core registers spill-free in the reduction (1.375 instr/MAC
    there); with few input channels the per-output work (requantization, clamp, store)
    dominates and taller tiles share each weight word over 4 pixels: 4x2 up to 32 channels
    (12x12x32->192: 2.17 against 2.66 for 2x2), 4x1 up to 24 (24x24x24->144: 2.58 against
    2.81 for 4x2; 24x24x8->48: 3.88 against 4.10 for 2x2); one pixel (fully connected)
    takes 4 channels per step.  The M7 ranks the tiles the same way.
    """
    if P == 1:
        return {"tile_p": 1, "tile_oc": 4, "unroll": 1, "micro": "dsp"}
    if C <= 24:
        return {"tile_p": 4, "tile_oc": 1, "unroll": 1, "micro": "dsp"}
    return {"tile_p": 4 if C <= 32 else 2, "tile_oc": 2, "unroll": 1, "micro": "dsp"}


def tiles_func(P: int, C: int, K: int, tp: int, to: int, rule: str, hi32: bool = False):
    """The GEMM as TIR with overlapping edge tiles: every tile is a full tp x to rectangle.

    ``hi32``: requantize with 32-bit work (common.requantize_hi32, the same values; the plan
    checked its preconditions on this layer's bias and shifts)."""
    NP, NK = -(-P // tp), -(-K // to)

    def out(acc, m, s, zp, lo, hi):
        if hi32:
            return cm.clamp_i8_32(cm.requantize_hi32(acc, m, s), zp, lo, hi)
        return cm.clamp_i8(cm.requantize_by(rule, acc, m, s), zp, lo, hi)

    @T.prim_func(s_tir=True)
    def func(x: T.Buffer((P, C), "int8"), w: T.Buffer((K, C), "int8"), bias: T.Buffer((K,), "int32"),
             mult: T.Buffer((K,), "int32"), shift: T.Buffer((K,), "int32"), y_zp: T.int32,
             act_min: T.int32, act_max: T.int32, y: T.Buffer((P, K), "int8")):
        acc = T.alloc_buffer((tp, to), "int32")
        for po, ko in T.grid(NP, NK):
            for i, j in T.grid(tp, to):
                with T.sblock("acc_init"):  # the (folded) bias starts the sum: one int32, no add
                    vpo, vko, vi, vj = T.axis.remap("SSSS", [po, ko, i, j])
                    acc[vi, vj] = bias[T.min(vko * to, K - to) + vj]
            for i, j, c in T.grid(tp, to, C):
                with T.sblock("acc"):
                    vpo, vko, vi, vj, vc = T.axis.remap("SSSSR", [po, ko, i, j, c])
                    acc[vi, vj] = acc[vi, vj] + (T.Cast("int32", x[T.min(vpo * tp, P - tp) + vi, vc])
                                                 * T.Cast("int32", w[T.min(vko * to, K - to) + vj, vc]))
            for i, j in T.grid(tp, to):
                with T.sblock("y"):
                    vpo, vko, vi, vj = T.axis.remap("SSSS", [po, ko, i, j])
                    y[T.min(vpo * tp, P - tp) + vi, T.min(vko * to, K - to) + vj] = out(
                        acc[vi, vj], mult[T.min(vko * to, K - to) + vj], shift[T.min(vko * to, K - to) + vj],
                        y_zp, act_min, act_max)
    return func


def micro_gemm_func(P: int, C: int, K: int, knobs: dict, rule: str = "single", hi32: bool = False):
    """Scheduled PrimFunc (same parameters as gemm_func) whose tile reduction is the
    ``mbmicro_gemm_<micro>_<tp>x<to>`` micro-kernel."""
    from mbmicro.codegen.microkernels import intrin

    tp, to = knobs["tile_p"], knobs["tile_oc"]
    sch = s_tir.Schedule(tiles_func(P, C, K, tp, to, rule, hi32))
    ab, yb, init = sch.get_sblock("acc"), sch.get_sblock("y"), sch.get_sblock("acc_init")
    sch.tensorize(sch.get_loops(ab)[2], intrin.gemm(knobs["micro"], tp, to, C, C, C))
    po, ko = sch.get_loops(yb)[:2]
    sch.reorder(ko, po)  # channel tiles outermost: a tile's weights, bias and multipliers stay put
    if knobs["unroll"]:
        cm.unroll_all(sch, list(sch.get_loops(init)[-2:]) + list(sch.get_loops(yb)[-2:]))
    return sch.mod["main"]


def build_gemm(P: int, C: int, K: int, knobs: dict, rule: str, rq: int = 0, pair: bool = False,
               hi32: bool = False):
    """The kernel of ``knobs``: the plain register tile or a micro-kernel (the DSP one
    requantizes with 32-bit work when ``hi32``)."""
    if knobs.get("micro", "none") == "none":
        return gemm_func(P, C, K, knobs, rule)
    if knobs["micro"] in NEON_MICRO:
        return neon.neon_gemm_func(P, C, K, knobs, rule, rq, pair)
    return micro_gemm_func(P, C, K, knobs, rule, hi32)


def gemm_tag(knobs: dict, rq: int = 0, pair: bool = False, hi32: bool = False) -> str:
    """Kernel-name tag: tile, "r" when rolled, "d" for the DSP micro-kernel ("dh" when it
    requantizes in 32 bits); the NEON ones add their requantization mode and "p" when
    products are paired."""
    micro = knobs.get("micro", "none")
    tag = f"t{knobs['tile_p']}x{knobs['tile_oc']}" + ("" if knobs["unroll"] else "r")
    if micro in NEON_MICRO:
        return tag + {"neon": "n", "neon_k": "nk"}[micro] + str(rq) + ("p" if pair else "")
    return tag + {"none": "", "dsp": "dh" if hi32 else "d"}[micro]


def gemm_headers(knobs: dict) -> tuple[str, ...]:
    """The micro-kernel header the source of ``knobs`` includes."""
    micro = knobs["micro"]
    return () if micro == "none" else ((neon.HEADER,) if micro in NEON_MICRO else (GEMM_HEADER,))


def neon_defaults(P: int, C: int, K: int) -> dict:
    """A53 knobs for a shape, from QEMU instruction counts of the generated kernels of every
    1x1 shape of the 11 models at their benchmark configs (all tiles tried): up to 24 input
    channels the panel kernel along K, 4 pixels x 8 channels (a reduction of 8-24 channels
    leaves too few MACs per output to pay its horizontal sum: 0.49 against 0.92 instructions
    per MAC at C = 8); a 28-32 channel reduction with a C % 8 tail (ReXNet) too, 2 x 8
    (100x28->168: 0.42 against 0.64); otherwise the reduction along C, 4 x 16 (or 8)
    from 64 channels, 2 x 8 below; one pixel per tile on 3x3 maps (and 5x5 maps below 64
    channels), because a 4-pixel tile overlaps the last one by up to a third there
    (9x48->288: 0.34 against 0.49 for the panel kernel, 9x64->192: 0.33 against 0.43 for
    4 x 16; 25x192->36 keeps 4 x 8: 0.34 against 0.40)."""
    wide = 16 if K % 16 == 0 else 8
    if C <= 24:
        return {"micro": "neon_k", "tile_p": 4, "tile_oc": 8}
    if C <= 32 and C % 8:
        return {"micro": "neon_k", "tile_p": 2, "tile_oc": 8}
    if C >= 64:
        return {"micro": "neon", "tile_p": 1 if P < 16 else 4, "tile_oc": wide}
    return {"micro": "neon", "tile_p": 1 if P < 36 else 2, "tile_oc": 8}


def plan_gemm(graph, node, family: str, prefix: str, P: int, C: int, K: int, weight2d):
    """Shared by pointwise and fully_connected: weight2d is (K, C)."""
    args = cm.weighted_args(graph, node, weight2d, weight2d, K)
    # C = 1 leaves no reduction axis for the NEON intrinsics to match
    micro = MICRO + (NEON_MICRO if family in NEON_FAMILIES and C > 1 else [])
    space = {"tile_p": fit(TILE_P, P), "tile_oc": fit(TILE_OC, K), "unroll": [1, 0], "micro": micro}
    base = dsp_defaults(P, C) if family in DSP_FAMILIES else _DEFAULTS.get(family, _DEFAULTS["host"])
    if family == "cortex-a53" and prefix == "pw" and K >= 8 and C > 1:
        base = {**base, **neon_defaults(P, C, K)}
    defaults = {key: pick(space[key], base[key]) for key in space}
    rule = cm.graph_rule(graph)
    rq, pair = neon.rq_mode(rule, node.params["shift"]), neon.pairs_ok(weight2d)
    bias = next(a.value for a in args if a.name == "bias")
    hi32 = rule == "single" and cm.hi32_applies(bias, node.params["shift"], C)
    plan = cm.OpPlan(
        prefix=prefix, spec=f"p{P}c{C}o{K}{cm.rule_suffix(rule)}", args=args, space=space, defaults=defaults,
        build=lambda kn: build_gemm(P, C, K, kn, rule, rq, pair, hi32), tag=lambda kn: gemm_tag(kn, rq, pair, hi32),
        headers=gemm_headers,
        doc=f"int8 1x1 conv / GEMM: x[{P}][{C}] * w[{K}][{C}]^T, per-channel requantize",
    )
    if family in dspx.FAMILIES:
        mine = dspx.defaults(family, P, C) if family in DSP_FAMILIES else None
        if mine:
            mine = {**mine, "tile_p": pick(space["tile_p"], mine["tile_p"]),
                    "tile_oc": pick(space["tile_oc"], mine["tile_oc"])}
        plan = dspx.with_dspx(plan, family, rule, dspx.Layout(graph, node, weight2d), P, C, K, mine)
    mode = mve.requant_mode(node.params["shift"])
    return mve.with_mve(plan, family, rule, lambda kn: mve.pw_func(P, C, K, mode),
                        mve.pw_args(graph, node, weight2d))


def dense_weight(weight: np.ndarray, groups: int) -> np.ndarray:
    """(K, 1, 1, C / groups) grouped 1x1 weights -> (K, C) block-diagonal: output channel k
    of group g = k // (K / groups) keeps its taps on input channels g * C/groups .., zeros
    elsewhere.  The same integer sums (the zeros add nothing, the folded bias sums the same
    taps), so the dense GEMM is bit-exact with the grouped conv (ops/__init__.DENSE_GROUPS_MAX)."""
    K, ci = weight.shape[0], weight.shape[3]
    dense = np.zeros((K, ci * groups), dtype=weight.dtype)
    og = K // groups
    for k in range(K):
        g = k // og
        dense[k, g * ci:(g + 1) * ci] = weight[k, 0, 0, :]
    return dense


def plan(graph, node, family: str) -> cm.OpPlan:
    H, W, C = cm.nhwc(graph, node.inputs[0])
    K = cm.nhwc(graph, node.outputs[0])[2]
    groups = int(node.attrs.get("groups", 1))
    weight = (node.params["weight"].reshape(K, C) if groups == 1
              else dense_weight(np.asarray(node.params["weight"]), groups))
    p = plan_gemm(graph, node, family, "pw", H * W, C, K, weight)
    p.spec = f"h{H}w{W}c{C}o{K}{cm.rule_suffix(cm.graph_rule(graph))}"
    return p
