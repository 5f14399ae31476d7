"""Residual add with TFLite-style rescaling to a common scale:

    a' = requantize((a - za) << 20, M0, s0)
    b' = requantize((b - zb) << 20, M1, s1)   on channels c < C_b, else 0
    y  = clamp(requantize(a' + b', M2, s2) + zy, act_min, act_max)

Each requantization is its own TE stage (keeps TVM's simplifier fast and
avoids Let sharing, which trips NarrowDataType); the two input stages are
then inlined, so the C is one loop nest with one store per element.

IN PLACE: ``y`` may alias ``a`` (and ``b`` when b has a's shape).  Every
y[p, c] is computed from a[p, c] and b[p, c] only and is written after they
are read, at the same index; the C signature therefore has no ``restrict``.
The memory planner relies on this for residual adds.

Schedule: pixel loop outside, channel loop inside; when C_b < C the channel
loop is split at C_b so neither part tests the channel index.  Knob: unroll
(inner channel unroll factor, 1 = none).
"""

from __future__ import annotations

from tvm import s_tir, te, tirx

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.ops import common as cm
from mbmicro.reference.arith import ADD_LEFT_SHIFT

UNROLL = [1, 2, 4]


def _scalars(names):
    return [cm.int_var(n) for n in names]


def add_func(P: int, C: int, Cb: int, knobs: dict, rule: str = "single"):
    a = te.placeholder((P, C), "int8", name="a")
    b = te.placeholder((P, Cb), "int8", name="b")
    a_zp, b_zp, m0, s0, m1, s1, m2, s2, y_zp, lo, hi = _scalars(
        ["a_zp", "b_zp", "m0", "s0", "m1", "s1", "m2", "s2", "y_zp", "act_min", "act_max"])
    lsh = ADD_LEFT_SHIFT
    ra = te.compute((P, C), lambda p, c: cm.requantize_by(
        rule, (a[p, c].astype("int32") - a_zp) * (1 << lsh), m0, s0), name="ra")
    rb = te.compute((P, Cb), lambda p, c: cm.requantize_by(
        rule, (b[p, c].astype("int32") - b_zp) * (1 << lsh), m1, s1), name="rb")
    if Cb == C:
        total = lambda p, c: ra[p, c] + rb[p, c]  # noqa: E731
    else:
        total = lambda p, c: ra[p, c] + tirx.if_then_else(  # noqa: E731
            c < Cb, rb[p, tirx.min(c, Cb - 1)], tirx.const(0, "int64"))
    y = te.compute((P, C), lambda p, c: cm.clamp_i8(cm.requantize_by(rule, total(p, c), m2, s2), y_zp, lo, hi), name="y")
    func = te.create_prim_func([a, b, a_zp, b_zp, m0, s0, m1, s1, m2, s2, y_zp, lo, hi, y])
    sch = s_tir.Schedule(func)
    sch.compute_inline(sch.get_sblock("ra"))
    sch.compute_inline(sch.get_sblock("rb"))
    yb = sch.get_sblock("y")
    _, c = sch.get_loops(yb)
    parts = [c] if Cb == C else sch.loop_partition(c, [Cb, None])
    if knobs["unroll"] > 1:  # split cannot take a partition not starting at 0
        _, inner = sch.split(parts[0], [None, knobs["unroll"]])
        sch.unroll(inner)
    return sch.mod["main"]


def plan(graph, node, family: str) -> cm.OpPlan:
    H, W, C = cm.nhwc(graph, node.inputs[0])
    Cb = cm.nhwc(graph, node.inputs[1])[2]
    mult = [int(v) for v in node.params["multiplier"].reshape(-1)]
    shift = [int(v) for v in node.params["shift"].reshape(-1)]
    ints = [("a_zp", cm.zero_point(graph, node.inputs[0])), ("b_zp", cm.zero_point(graph, node.inputs[1])),
            ("m0", mult[0]), ("s0", shift[0]), ("m1", mult[1]), ("s1", shift[1]),
            ("m2", mult[2]), ("s2", shift[2])]
    args = [cm.io_arg("input", "a", node.inputs[0]), cm.io_arg("input", "b", node.inputs[1]),
            *[KernelArg("int", n, "int32_t", v) for n, v in ints],
            *cm.out_args(node, graph), cm.io_arg("output", "y", node.outputs[0])]
    space = {"unroll": UNROLL}
    defaults = {"unroll": 1}
    rule = cm.graph_rule(graph)
    return cm.OpPlan(
        prefix="add", spec=f"p{H * W}c{C}" + (f"b{Cb}" if Cb != C else "") + cm.rule_suffix(rule), args=args,
        space=space, defaults=defaults, build=lambda kn: add_func(H * W, C, Cb, kn, rule),
        tag=lambda kn: f"u{kn['unroll']}", inplace=True,
        doc=f"int8 add of {H}x{W}x{C} and {H}x{W}x{Cb}; y may alias a (in place), no restrict",
    )
