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
"""

from __future__ import annotations

from tvm import s_tir, te

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.knobs import fit, pick
from mbmicro.codegen.ops import common as cm

C_BLOCK = [1, 2, 4, 8, 16]
_DEFAULT_BLOCK = {"cortex-m4": 4, "cortex-m7": 4}


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
    space = {"c_block": fit(C_BLOCK, C)}
    defaults = {"c_block": pick(space["c_block"], _DEFAULT_BLOCK.get(family, 16))}
    return cm.OpPlan(
        prefix="gap", spec=f"p{H * W}c{C}{suffix}", args=args, space=space, defaults=defaults,
        build=lambda kn: gap_func(H * W, C, kn, rule, pool), tag=lambda kn: f"b{kn['c_block']}",
        doc=f"int8 global average pool {H}x{W}x{C}",
    )
