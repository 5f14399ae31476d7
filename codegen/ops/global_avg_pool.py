"""Global average pool, (1, H, W, C) -> (1, 1, 1, C), mean folded into the
requantization (real M = sx / (sy H W)):

    acc[c] = sum_hw x[hw, c] - H*W*zx
    y[c]   = clamp(requantize(acc[c], M, s) + zy, -128, 127)

Schedule: channel blocks outside, pixels in the middle, the c_block
accumulators innermost (unrolled), so the scratch is c_block int32 values
(registers), not a C-long accumulator array.  Knob: c_block.

TFLite graphs (``graph.meta["requant"] == "tflite"``) follow TFLite's int8
kernels instead, with the node's fused clamp (attrs act_min/act_max):

    pool "mean"     y[c] = clamp(MBQM(acc[c], M, s) + zy)      M: TFLite MEAN's, count folded in
    pool "average"  y[c] = clamp(div(sum_hw x[hw, c], H*W))  (AVERAGE_POOL_2D, same qparams)

where div rounds half away from zero as C's ``(v +- n/2) / n`` does.

Knob ``micro`` = "dsp" (the default on Cortex-M4/M7): the sums come from
``mbmicro_pool_dsp_sum`` (codegen/microkernels/mbmicro_pool.h: SXTAB16 adds 4 channels of a
pixel in 3 instructions), up to DSP_BLOCK channels at a time into a stack array (the last
block overlaps the one before it, recomputing a few sums: :func:`dsp_block`), and the tail above stays TIR (the
default rule's in 32-bit work, common.requantize_hi32, where the shift allows it: tag "dsph").
"""

from __future__ import annotations

from tvm import s_tir, te

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.knobs import fit, pick
from mbmicro.codegen.ops import common as cm

C_BLOCK = [1, 2, 4, 8, 16]
_DEFAULT_BLOCK = {"cortex-m4": 4, "cortex-m7": 4}
#: channels summed per micro-kernel call (int32 sums on the stack: 256 bytes)
DSP_BLOCK = 64
DSP_FAMILIES = ("cortex-m4", "cortex-m7")
HEADER = "mbmicro_pool.h"


def _output(rule: str, pool: str, P: int, total, x_zp, y_zp, m, s, lo, hi):
    """The per-channel tail: the default folded mean, or TFLite's MEAN / AVERAGE_POOL_2D."""
    if rule == "single":
        return cm.clamp_i8(cm.requantize(total - x_zp * P, m, s), y_zp, -128, 127)
    if pool == "average":
        return cm.clamp_i8(cm.divide_round_away(cm.i64(total), P), 0, lo, hi)
    return cm.clamp_i8(cm.requantize_by(rule, total - x_zp * P, m, s), y_zp, lo, hi)


def _params(rule: str, pool: str, requant: list, clamp: list) -> list:
    """The scalar parameters the tail reads (C rejects unused ones): AVERAGE_POOL_2D reads only the clamp."""
    if rule == "single":
        return requant
    return clamp if pool == "average" else requant + clamp


def gap_func(P: int, C: int, knobs: dict, rule: str = "single", pool: str = "mean"):
    cb = knobs["c_block"]
    Cp = cm.padded(C, cb)
    ci = cm.clamp_index(C, Cp)
    x = te.placeholder((P, C), "int8", name="x")
    x_zp, y_zp, m, s = (cm.int_var(n) for n in ("x_zp", "y_zp", "mult", "shift"))
    lo, hi = cm.int_var("act_min"), cm.int_var("act_max")
    r = te.reduce_axis((0, P), name="r")
    acc = te.compute((Cp,), lambda c: te.sum(x[r, ci(c)].astype("int32"), axis=r), name="acc")
    y = te.compute((C,), lambda c: _output(rule, pool, P, acc[c], x_zp, y_zp, m, s, lo, hi), name="y")
    scalars = _params(rule, pool, [x_zp, y_zp, m, s], [lo, hi])
    sch = s_tir.Schedule(te.create_prim_func([x, *scalars, y]))
    yb, ab = sch.get_sblock("y"), sch.get_sblock("acc")
    (c,) = sch.get_loops(yb)
    co, cin = sch.split(c, [None, cb])
    sch.compute_at(ab, co, preserve_unit_loops=True)
    ac, ar = sch.get_loops(ab)[-2:]
    sch.reorder(ar, ac)
    init = sch.decompose_reduction(ab, ar)
    cm.unroll_all(sch, [ac, cin, sch.get_loops(init)[-1]])
    return sch.mod["main"]


def dsp_block(C: int) -> int:
    """Channels per micro-kernel call: C split evenly into blocks of at most DSP_BLOCK, rounded up
    to a multiple of 4 (the last block overlaps the one before by fewer than 4 channels per
    block: 144 channels are 3 x 48, not 64 + 64 + 64 recomputing 48)."""
    blocks = -(-C // DSP_BLOCK)
    return min(C, -(-(-(-C // blocks)) // 4) * 4)


def hi32_applies(P: int, shift: int, rule: str) -> bool:
    """Whether the default rule's tail may use common.requantize_hi32 (the same values): shift in
    common.HI32_SHIFTS and every sum - P*zx (at most 255*P in size) inside int32."""
    lo, hi = cm.HI32_SHIFTS
    return rule == "single" and lo <= shift <= hi and 255 * P < (1 << 31)


def gap_dsp_func(P: int, C: int, rule: str = "single", pool: str = "mean", hi32: bool = False):
    """PrimFunc (same parameters as gap_func): block sums by the micro-kernel, the tail in TIR
    (with ``hi32``, the 32-bit form of the default rule: SMULL, ADD, ASR instead of 64-bit shifts)."""
    from tvm.script import tirx as T

    n = dsp_block(C)
    NB = -(-C // n)

    def tail(total, x_zp, y_zp, m, s, lo, hi):
        if hi32:  # total already holds sum - P * zx (the micro-kernel's init), an int32
            return cm.clamp_i8_32(cm.requantize_hi32(total, m, s), y_zp, -128, 127)
        return _output(rule, pool, P, total, x_zp, y_zp, m, s, lo, hi)

    @T.prim_func(s_tir=True)
    def func(x: T.Buffer((P, C), "int8"), x_zp: T.int32, y_zp: T.int32, mult: T.int32, shift: T.int32,
             act_min: T.int32, act_max: T.int32, y: T.Buffer((C,), "int8")):
        acc = T.alloc_buffer((n,), "int32")
        for cb in T.serial(NB):
            with T.sblock("sum"):  # opaque: S-TIR lowers acc to a C array only when blocks touch it
                T.reads(x[0:P, 0:C])
                T.writes(acc[0:n])
                T.evaluate(T.call_extern("void", "mbmicro_pool_dsp_sum", acc.access_ptr("w"),
                                         T.address_of(x[0, T.min(cb * n, C - n)]), P, C, n,
                                         x_zp * (-P) if hi32 else 0))
            for c in T.serial(n):
                with T.sblock("y"):
                    T.reads(acc[c])
                    T.writes(y[T.min(cb * n, C - n) + c])
                    y[T.min(cb * n, C - n) + c] = tail(acc[c], x_zp, y_zp, mult, shift, act_min, act_max)

    scalars = ["x_zp", "y_zp", "mult", "shift", "act_min", "act_max"]
    kept = _params(rule, pool, scalars[:4], scalars[4:])
    fixed = {p: 0 for p in func.params[1:7] if p.name not in kept}  # unused ones leave the signature
    return func.specialize(fixed) if fixed else func


def plan(graph, node, family: str) -> cm.OpPlan:
    H, W, C = cm.nhwc(graph, node.inputs[0])
    ints = [("x_zp", cm.zero_point(graph, node.inputs[0])), ("y_zp", cm.zero_point(graph, node.outputs[0])),
            ("mult", int(node.params["multiplier"].reshape(-1)[0])),
            ("shift", int(node.params["shift"].reshape(-1)[0]))]
    rule = cm.graph_rule(graph)
    pool = str(node.attrs.get("pool", "mean"))
    if pool not in ("mean", "average"):
        raise ValueError(f"node {node.name}: unknown pool {pool!r} (mean | average)")
    scalars = _params(rule, pool, [KernelArg("int", n, "int32_t", v) for n, v in ints],
                      cm.out_args(node, graph, y_zp=False))
    args = [cm.io_arg("input", "x", node.inputs[0]), *scalars, cm.io_arg("output", "y", node.outputs[0])]
    suffix = cm.rule_suffix(rule) + ("a" if rule != "single" and pool == "average" else "")
    hi32 = hi32_applies(H * W, ints[3][1], rule)
    space = {"c_block": fit(C_BLOCK, C), "micro": ["none", "dsp"]}
    defaults = {"c_block": pick(space["c_block"], _DEFAULT_BLOCK.get(family, 16)),
                "micro": "dsp" if family in DSP_FAMILIES else "none"}
    return cm.OpPlan(
        prefix="gap", spec=f"p{H * W}c{C}{suffix}", args=args, space=space, defaults=defaults,
        build=lambda kn: gap_dsp_func(H * W, C, rule, pool, hi32) if kn["micro"] == "dsp" else gap_func(
            H * W, C, kn, rule, pool),
        tag=lambda kn: ("dsph" if hi32 else "dsp") if kn["micro"] == "dsp" else f"b{kn['c_block']}",
        headers=lambda kn: (HEADER,) if kn["micro"] == "dsp" else (),
        doc=f"int8 global average pool {H}x{W}x{C}",
    )
