"""Pointwise (1x1, stride 1, groups 1) convolution: the main cost of an
MBConv network, as a register-tiled int8 GEMM ``y[P, K] = x[P, C] w[K, C]^T``.

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
tile loops unrolled or left as loops for gcc), micro ("none" | "dsp").

``micro="dsp"`` tensorizes the tile's reduction with the C micro-kernel
``mbmicro_gemm_dsp_<tp>x<to>`` (codegen/microkernels/mbmicro_gemm.h: SXTB16 +
SMLAD, 4 channels per word on Cortex-M4/M7, a portable twin elsewhere).  A
tensorized region must be a rectangle, so that schedule pads no index:
the last tile of each axis *overlaps* the one before it (it starts at
``P - tp`` / ``K - to``), recomputing and re-storing a few outputs with the
same values.  Bias, requantization and clamping stay in TIR (one rule).
"""

from __future__ import annotations

from tvm import s_tir, te
from tvm.script import tirx as T

from mbmicro.codegen.knobs import fit, pick
from mbmicro.codegen.ops import common as cm

MICRO = ["none", "dsp"]
GEMM_HEADER = "mbmicro_gemm.h"

TILE_P = [1, 2, 4, 8]
TILE_OC = [1, 2, 4, 8, 16]

_DEFAULTS = {
    "cortex-m4": {"tile_p": 2, "tile_oc": 4, "unroll": 1, "micro": "none"},
    "cortex-m7": {"tile_p": 2, "tile_oc": 4, "unroll": 1, "micro": "none"},
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


def tiles_func(P: int, C: int, K: int, tp: int, to: int, rule: str):
    """The GEMM as TIR with overlapping edge tiles: every tile is a full tp x to rectangle."""
    NP, NK = -(-P // tp), -(-K // to)

    def out(acc, b, m, s, zp, lo, hi):
        return cm.clamp_i8(cm.requantize_by(rule, acc + b, m, s), zp, lo, hi)

    @T.prim_func(s_tir=True)
    def func(x: T.Buffer((P, C), "int8"), w: T.Buffer((K, C), "int8"), bias: T.Buffer((K,), "int32"),
             mult: T.Buffer((K,), "int32"), shift: T.Buffer((K,), "int32"), y_zp: T.int32,
             act_min: T.int32, act_max: T.int32, y: T.Buffer((P, K), "int8")):
        acc = T.alloc_buffer((tp, to), "int32")
        for po, ko in T.grid(NP, NK):
            for i, j, c in T.grid(tp, to, C):
                with T.sblock("acc"):
                    vpo, vko, vi, vj, vc = T.axis.remap("SSSSR", [po, ko, i, j, c])
                    with T.init():
                        acc[vi, vj] = 0
                    acc[vi, vj] = acc[vi, vj] + (T.Cast("int32", x[T.min(vpo * tp, P - tp) + vi, vc])
                                                 * T.Cast("int32", w[T.min(vko * to, K - to) + vj, vc]))
            for i, j in T.grid(tp, to):
                with T.sblock("y"):
                    vpo, vko, vi, vj = T.axis.remap("SSSS", [po, ko, i, j])
                    y[T.min(vpo * tp, P - tp) + vi, T.min(vko * to, K - to) + vj] = out(
                        acc[vi, vj], bias[T.min(vko * to, K - to) + vj], mult[T.min(vko * to, K - to) + vj],
                        shift[T.min(vko * to, K - to) + vj], y_zp, act_min, act_max)
    return func


def micro_gemm_func(P: int, C: int, K: int, knobs: dict, rule: str = "single"):
    """Scheduled PrimFunc (same parameters as gemm_func) whose tile reduction is the
    ``mbmicro_gemm_<micro>_<tp>x<to>`` micro-kernel."""
    from mbmicro.codegen.microkernels import intrin

    tp, to = knobs["tile_p"], knobs["tile_oc"]
    sch = s_tir.Schedule(tiles_func(P, C, K, tp, to, rule))
    ab, yb = sch.get_sblock("acc"), sch.get_sblock("y")
    loops = sch.get_loops(ab)
    init = sch.decompose_reduction(ab, loops[2])
    sch.tensorize(loops[2], intrin.gemm(knobs["micro"], tp, to, C, C, C))
    if knobs["unroll"]:
        cm.unroll_all(sch, list(sch.get_loops(init)[-2:]) + list(sch.get_loops(yb)[-2:]))
    return sch.mod["main"]


def build_gemm(P: int, C: int, K: int, knobs: dict, rule: str):
    """The kernel of ``knobs``: the plain register tile or a micro-kernel."""
    if knobs.get("micro", "none") == "none":
        return gemm_func(P, C, K, knobs, rule)
    return micro_gemm_func(P, C, K, knobs, rule)


def gemm_tag(knobs: dict) -> str:
    """Kernel-name tag: tile, "r" when rolled, "d" for the DSP micro-kernel."""
    micro = {"none": "", "dsp": "d"}[knobs.get("micro", "none")]
    return f"t{knobs['tile_p']}x{knobs['tile_oc']}" + ("" if knobs["unroll"] else "r") + micro


def plan_gemm(graph, node, family: str, prefix: str, P: int, C: int, K: int, weight2d):
    """Shared by pointwise and fully_connected: weight2d is (K, C)."""
    args = cm.weighted_args(graph, node, weight2d, weight2d, K)
    space = {"tile_p": fit(TILE_P, P), "tile_oc": fit(TILE_OC, K), "unroll": [1, 0], "micro": MICRO}
    base = _DEFAULTS.get(family, _DEFAULTS["host"])
    defaults = {key: pick(space[key], base[key]) for key in space}
    rule = cm.graph_rule(graph)
    return cm.OpPlan(
        prefix=prefix, spec=f"p{P}c{C}o{K}{cm.rule_suffix(rule)}", args=args, space=space, defaults=defaults,
        build=lambda kn: build_gemm(P, C, K, kn, rule), tag=gemm_tag,
        headers=lambda kn: () if kn["micro"] == "none" else (GEMM_HEADER,),
        doc=f"int8 1x1 conv / GEMM: x[{P}][{C}] * w[{K}][{C}]^T, per-channel requantize",
    )


def plan(graph, node, family: str) -> cm.OpPlan:
    H, W, C = cm.nhwc(graph, node.inputs[0])
    K = cm.nhwc(graph, node.outputs[0])[2]
    weight = node.params["weight"].reshape(K, C)
    p = plan_gemm(graph, node, family, "pw", H * W, C, K, weight)
    p.spec = f"h{H}w{W}c{C}o{K}{cm.rule_suffix(cm.graph_rule(graph))}"
    return p
