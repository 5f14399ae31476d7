"""Squeeze-and-excitation multiply: y[p, c] = x[p, c] * gate[c], rescaled:

    y = clamp(requantize((x - zx) * (g[c] - zg), M, s) + zy, act_min, act_max)

IN PLACE: ``y`` may alias ``x``: y[p, c] depends on x[p, c] (and the gate)
only, and is written after it is read at the same index; the signature has
no ``restrict``.  The memory planner relies on this for the SE multiply.
(``y`` must not alias the gate.)

Schedule: pixels outside, channels inside (gate reads stay in cache).
Knob: unroll (inner channel unroll factor).
"""

from __future__ import annotations

from tvm import s_tir, te

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.ops import common as cm

UNROLL = [1, 2, 4]


def mul_func(P: int, C: int, knobs: dict, rule: str = "single"):
    x = te.placeholder((P, C), "int8", name="x")
    g = te.placeholder((C,), "int8", name="gate")
    x_zp, g_zp, m, s = (cm.int_var(n) for n in ("x_zp", "gate_zp", "mult", "shift"))
    y_zp, lo, hi = cm.int_var("y_zp"), cm.int_var("act_min"), cm.int_var("act_max")
    y = te.compute((P, C), lambda p, c: cm.clamp_i8(cm.requantize_by(
        rule, (x[p, c].astype("int32") - x_zp) * (g[c].astype("int32") - g_zp), m, s), y_zp, lo, hi), name="y")
    sch = s_tir.Schedule(te.create_prim_func([x, g, x_zp, g_zp, m, s, y_zp, lo, hi, y]))
    if knobs["unroll"] > 1:
        _, c = sch.get_loops(sch.get_sblock("y"))
        _, inner = sch.split(c, [None, knobs["unroll"]])
        sch.unroll(inner)
    return sch.mod["main"]


def plan(graph, node, family: str) -> cm.OpPlan:
    H, W, C = cm.nhwc(graph, node.inputs[0])
    ints = [("x_zp", cm.zero_point(graph, node.inputs[0])), ("gate_zp", cm.zero_point(graph, node.inputs[1])),
            ("mult", int(node.params["multiplier"].reshape(-1)[0])),
            ("shift", int(node.params["shift"].reshape(-1)[0]))]
    args = [cm.io_arg("input", "x", node.inputs[0]), cm.io_arg("input", "gate", node.inputs[1]),
            *[KernelArg("int", n, "int32_t", v) for n, v in ints],
            *cm.out_args(node, graph), cm.io_arg("output", "y", node.outputs[0])]
    rule = cm.graph_rule(graph)
    return cm.OpPlan(
        prefix="mul", spec=f"p{H * W}c{C}{cm.rule_suffix(rule)}", args=args, space={"unroll": UNROLL},
        defaults={"unroll": 1}, build=lambda kn: mul_func(H * W, C, kn, rule), tag=lambda kn: f"u{kn['unroll']}", inplace=True,
        doc=f"int8 channel-broadcast multiply {H}x{W}x{C}; y may alias x (in place), no restrict",
    )
