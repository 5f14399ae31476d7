"""Squeeze-and-excitation multiply: y[p, c] = x[p, c] * gate[c], rescaled:

    y = clamp(requantize((x - zx) * (g[c] - zg), M, s) + zy, act_min, act_max)

Default rule with an int32 multiplier (``arith.mul_fits_int32``, what
``arith.mul_multiplier`` always picks): the kernel runs channel by channel and
folds, per channel, the gate into ``G = (g[c] - zg) M`` and the zero points,
the rounding term and the clamp's lower bound into ``K = 2**(s-1) +
(zy - act_min) 2**s - zx G``, so that every pixel costs one multiply-accumulate
on the raw int8 value, a shift by the C constant s and a saturation:

    t = clamp((K + x*G) >> s, 0, act_max - act_min);  y = t + act_min

(the full int8 range as USAT: constant bounds in a stage of their own, see
codegen/ops/add.py).  Any other (M, s) -- TFLite graphs, or multipliers from
before the int32 choice -- takes the 64-bit path: one requantization per element
with runtime shifts.

IN PLACE: ``y`` may alias ``x``: y[p, c] depends on x[p, c] (and the gate)
only, and is written after it is read at the same index; the signature has
no ``restrict``.  The memory planner relies on this for the SE multiply.
(``y`` must not alias the gate.)

Schedule: int32 path on the Cortex-M cores: channels outside, pixels inside
(strided by C; the M4 has no data cache to miss), so G and K stay in registers;
elsewhere (knob order "p") G and K are C-long arrays made first and the pixel loop
is outside, so gcc vectorizes the contiguous channel loop (A53, EfficientNet-B0's SE
multiplies: 5.5 instructions per element, 9.5 channel by channel, 6.8 for the 64-bit
kernel).  64-bit path:
pixels outside, channels inside.  Knobs: unroll (unroll factor of the pixel loop),
order.
"""

from __future__ import annotations

from tvm import s_tir, te, tirx

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.knobs import pick
from mbmicro.codegen.ops import common as cm
from mbmicro.reference.arith import mul_fits_int32

UNROLL = [1, 2, 4]
_DEFAULT_UNROLL = {"cortex-m4": 4, "cortex-m7": 4, "cortex-m55": 4}


def _i32(v: int):
    return tirx.const(int(v), "int32")


def mul_func(P: int, C: int, knobs: dict, rule: str = "single"):
    """The 64-bit path: one requantization per element (TFLite graphs, other multipliers)."""
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


def _int32_stages(P: int, C: int, s: int, full: bool):
    """The int32 path's TE stages G, K, [t], y as an unscheduled Schedule."""
    x = te.placeholder((P, C), "int8", name="x")
    g = te.placeholder((C,), "int8", name="gate")
    x_zp, g_zp, m, k0 = (cm.int_var(n) for n in ("x_zp", "gate_zp", "mult", "k0"))
    lo, hi = cm.int_var("act_min"), cm.int_var("act_max")
    gain = te.compute((C,), lambda c: (g[c].astype("int32") - g_zp) * m, name="G")
    base = te.compute((C,), lambda c: k0 - x_zp * gain[c], name="K")

    def shifted(p, c):
        return tirx.shift_right(base[c] + x[p, c].astype("int32") * gain[c], _i32(s))

    if full:
        t = te.compute((P, C), lambda p, c: tirx.max(tirx.min(shifted(p, c), _i32(255)), _i32(0)), name="t")
        y = te.compute((P, C), lambda p, c: (t[p, c] - _i32(128)).astype("int8"), name="y")
    else:
        y = te.compute((P, C), lambda p, c: (tirx.min(tirx.max(shifted(p, c), _i32(0)), hi - lo)
                                             + lo).astype("int8"), name="y")
    clamp = [] if full else [lo, hi]
    return s_tir.Schedule(te.create_prim_func([x, g, x_zp, g_zp, m, k0, *clamp, y]))


def _pixel_order(sch, full: bool, unroll: int):
    """G and K first (root), then pixels outside, channels inside; t computed per element."""
    p_loop, c_loop = sch.get_loops(sch.get_sblock("y"))
    if full:
        sch.compute_at(sch.get_sblock("t"), c_loop)
    if unroll > 1:
        _, inner = sch.split(p_loop, [None, unroll])
        sch.unroll(inner)
    return sch.mod["main"]


def mul_int32_func(P: int, C: int, s: int, full: bool, knobs: dict):
    """The int32 path: per channel G and K, per pixel (K + x G) >> s saturated.

    Knob order: "c" runs channel by channel (G and K in registers, pixels strided:
    the Cortex-M cores), "p" pixel by pixel with G and K as C-long arrays computed
    first (contiguous channels: what gcc vectorizes with NEON on the A53).
    """
    if knobs["order"] == "p":
        return _pixel_order(_int32_stages(P, C, s, full), full, knobs["unroll"])
    sch = _int32_stages(P, C, s, full)
    p_loop, c_loop = sch.get_loops(sch.get_sblock("y"))
    sch.reorder(c_loop, p_loop)
    inner = p_loop
    if knobs["unroll"] > 1:
        _, inner = sch.split(p_loop, [None, knobs["unroll"]])
    if full:  # consumers first: t under the pixel loop, then K and G (which t reads) per channel
        sch.compute_at(sch.get_sblock("t"), inner)
    for name in ("K", "G"):
        sch.compute_at(sch.get_sblock(name), c_loop)
    if knobs["unroll"] > 1:
        sch.unroll(inner)
    return sch.mod["main"]


def _int32_plan(graph, node, P: int, C: int, m: int, s: int, family: str) -> cm.OpPlan:
    lo, hi = cm.act_bounds(node)
    full = (lo, hi) == (-128, 127)
    k0 = (1 << (s - 1)) + (cm.zero_point(graph, node.outputs[0]) - lo) * (1 << s)
    ints = [("x_zp", cm.zero_point(graph, node.inputs[0])), ("gate_zp", cm.zero_point(graph, node.inputs[1])),
            ("mult", m), ("k0", k0)]
    args = [cm.io_arg("input", "x", node.inputs[0]), cm.io_arg("input", "gate", node.inputs[1]),
            *[KernelArg("int", n, "int32_t", v) for n, v in ints],
            *([] if full else cm.out_args(node, graph, y_zp=False)), cm.io_arg("output", "y", node.outputs[0])]
    space = {"unroll": [u for u in UNROLL if P % u == 0], "order": ["c", "p"]}
    defaults = {"unroll": pick(space["unroll"], _DEFAULT_UNROLL.get(family, 1)),
                "order": "c" if family.startswith("cortex-m") else "p"}
    return cm.OpPlan(
        prefix="mul", spec=f"p{P}c{C}s{s}" + ("" if full else "r"), args=args, space=space, defaults=defaults,
        build=lambda kn: mul_int32_func(P, C, s, full, kn), tag=lambda kn: f"{kn['order']}u{kn['unroll']}", inplace=True,
        doc=f"int8 channel-broadcast multiply {P}x{C}, int32 (shift {s}); y may alias x (in place), no restrict",
    )


def plan(graph, node, family: str) -> cm.OpPlan:
    H, W, C = cm.nhwc(graph, node.inputs[0])
    m = int(node.params["multiplier"].reshape(-1)[0])
    s = int(node.params["shift"].reshape(-1)[0])
    rule = cm.graph_rule(graph)
    if rule == "single" and mul_fits_int32(m, s):
        return _int32_plan(graph, node, H * W, C, m, s, family)
    ints = [("x_zp", cm.zero_point(graph, node.inputs[0])), ("gate_zp", cm.zero_point(graph, node.inputs[1])),
            ("mult", m), ("shift", s)]
    args = [cm.io_arg("input", "x", node.inputs[0]), cm.io_arg("input", "gate", node.inputs[1]),
            *[KernelArg("int", n, "int32_t", v) for n, v in ints],
            *cm.out_args(node, graph), cm.io_arg("output", "y", node.outputs[0])]
    return cm.OpPlan(
        prefix="mul", spec=f"p{H * W}c{C}{cm.rule_suffix(rule)}", args=args, space={"unroll": UNROLL},
        defaults={"unroll": 1}, build=lambda kn: mul_func(H * W, C, kn, rule), tag=lambda kn: f"u{kn['unroll']}", inplace=True,
        doc=f"int8 channel-broadcast multiply {H}x{W}x{C}; y may alias x (in place), no restrict",
    )
