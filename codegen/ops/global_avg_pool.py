"""Global average pool, (1, H, W, C) -> (1, 1, 1, C), mean folded into the
requantization (real M = sx / (sy H W)):

    acc[c] = sum_hw x[hw, c] - H*W*zx
    y[c]   = clamp(requantize(acc[c], M, s) + zy, -128, 127)

Schedule: channel blocks outside, pixels in the middle, the c_block
accumulators innermost (unrolled), so the scratch is c_block int32 values
(registers), not a C-long accumulator array.  Knob: c_block.
"""

from __future__ import annotations

from tvm import s_tir, te

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.knobs import fit, pick
from mbmicro.codegen.ops import common as cm

C_BLOCK = [1, 2, 4, 8, 16]
_DEFAULT_BLOCK = {"cortex-m4": 4, "cortex-m7": 4}


def gap_func(P: int, C: int, knobs: dict):
    cb = knobs["c_block"]
    Cp = cm.padded(C, cb)
    ci = cm.clamp_index(C, Cp)
    x = te.placeholder((P, C), "int8", name="x")
    x_zp, y_zp, m, s = (cm.int_var(n) for n in ("x_zp", "y_zp", "mult", "shift"))
    r = te.reduce_axis((0, P), name="r")
    acc = te.compute((Cp,), lambda c: te.sum(x[r, ci(c)].astype("int32"), axis=r), name="acc")
    y = te.compute((C,), lambda c: cm.clamp_i8(cm.requantize(acc[c] - x_zp * P, m, s), y_zp, -128, 127),
                   name="y")
    sch = s_tir.Schedule(te.create_prim_func([x, x_zp, y_zp, m, s, y]))
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
    args = [cm.io_arg("input", "x", node.inputs[0]), *[KernelArg("int", n, "int32_t", v) for n, v in ints],
            cm.io_arg("output", "y", node.outputs[0])]
    space = {"c_block": fit(C_BLOCK, C)}
    defaults = {"c_block": pick(space["c_block"], _DEFAULT_BLOCK.get(family, 16))}
    return cm.OpPlan(
        prefix="gap", spec=f"p{H * W}c{C}", args=args, space=space, defaults=defaults,
        build=lambda kn: gap_func(H * W, C, kn), tag=lambda kn: f"b{kn['c_block']}",
        doc=f"int8 global average pool {H}x{W}x{C}",
    )
