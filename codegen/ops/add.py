"""Residual add, int8.

Default rule (docs/INT8_SEMANTICS.md, :func:`mbmicro.reference.arith.add_single`):
one rounding of the exact sum, the intermediate scale being ``sy * 2**-f``:

    y = clamp(((a - za) Ma + (b - zb) Mb + 2**(f-1)) >> f + zy, act_min, act_max)

The kernel folds the zero points, the rounding term and the clamp's lower bound
into one per-layer constant ``k`` and computes, in int32 on the raw int8 values,

    t = clamp((k + a*Ma + b*Mb) >> f, 0, act_max - act_min);  y = t + act_min

(``k_tail``, without the b terms, on the channels c >= C_b that b does not
cover).  Why this shape: ``f`` is a C constant (in the kernel's name), so with
the full int8 range (no fused activation, every residual add of MobileNetV2)
the clamp is ``max(v, 0)`` then ``min(v, 255)`` with immediate bounds, which
gcc turns into one USAT with the shift folded in; per element that is two
loads, two MLAs, USAT, a subtract and a store (Cortex-M4).  The int32 sums
cannot overflow (``arith.ADD_INT32_BOUND``).  Ties round towards +infinity.

The "tflite" rule keeps TFLite's arithmetic (shift left 20, three
requantizations, each its own TE stage, inlined: one loop nest).

IN PLACE: ``y`` may alias ``a`` (and ``b`` when b has a's shape).  Every
y[p, c] is computed from a[p, c] and b[p, c] only and is written after they
are read, at the same index; the C signature therefore has no ``restrict``.
The memory planner relies on this for residual adds.

Schedule: with C_b = C one flat loop over every element; otherwise pixels
outside, channels inside, the channel loop split at C_b so neither part tests
the channel index.  Knob: unroll (inner unroll factor; flat loops take only
factors that divide the element count, so no tail test lands in the loop).
"""

from __future__ import annotations

from tvm import s_tir, te, tirx

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.knobs import pick
from mbmicro.codegen.ops import common as cm
from mbmicro.reference.arith import ADD_LEFT_SHIFT

UNROLL = [1, 2, 4, 8]
#: Default unroll per target family: on the Cortex-M cores the loop's compare and
#: branch are two of the nine instructions of a rolled element (measured 7.6
#: instructions per element at 8 on the M4); the others keep the rolled loop
#: that gcc vectorizes.
_DEFAULT_UNROLL = {"cortex-m4": 8, "cortex-m7": 8, "cortex-m55": 8}


def _scalars(names):
    return [cm.int_var(n) for n in names]


def _i32(v: int):
    return tirx.const(int(v), "int32")


def _shifted(v, f: int):
    return tirx.shift_right(v, _i32(f))


def _outputs(shape, total, f: int, full: bool, lo, hi, own_stage: bool):
    """The stages after the sum: y = int8(clamp(total >> f, 0, hi - lo) + lo).

    With the full range the bounds are the constants 0 and 255, and with
    ``own_stage`` the clamp is a stage of its own, ``t`` (an int32 in a register
    after compute_at): gcc folds ``(c ? v : 0) - 128`` into a branch when both are
    one expression, and recognizes USAT only when the clamp is a value of its own.
    (A partial add cannot have it: loop_partition fails on a loop holding two
    blocks.)  Returns the stages, ``t`` first when there is one.
    """
    if full and own_stage:
        t = te.compute(shape, lambda *i: tirx.max(tirx.min(_shifted(total(*i), f), _i32(255)), _i32(0)), name="t")
        return [t, te.compute(shape, lambda *i: (t(*i) - _i32(128)).astype("int8"), name="y")]
    if full:
        lo, hi = _i32(-128), _i32(127)
    return [te.compute(shape, lambda *i: (tirx.min(tirx.max(_shifted(total(*i), f), _i32(0)), hi - lo)
                                          + lo).astype("int8"), name="y")]


def _schedule(func, unroll: int, partition_at: int | None = None):
    """Unroll the innermost loop (after splitting off the channels >= partition_at);
    a clamp stage ``t`` is computed where y is, one element at a time."""
    sch = s_tir.Schedule(func)
    inner = sch.get_loops(sch.get_sblock("y"))[-1]
    if _has_block(sch, "t"):
        sch.compute_at(sch.get_sblock("t"), inner)
    parts = [inner] if partition_at is None else sch.loop_partition(inner, [partition_at, None])
    if unroll > 1:  # split cannot take a partition not starting at 0
        _, body = sch.split(parts[0], [None, unroll])
        sch.unroll(body)
    return sch.mod["main"]


def _has_block(sch, name: str) -> bool:
    try:
        sch.get_sblock(name)
    except Exception:  # noqa: BLE001 - TVM raises its own error type for a missing block
        return False
    return True


def add_single_func(P: int, C: int, Cb: int, f: int, full: bool, knobs: dict):
    """The default-rule add: one int32 multiply-accumulate chain per element."""
    ma, mb, k = _scalars(["ma", "mb", "k"])
    lo, hi = _scalars(["act_min", "act_max"])
    clamp = [] if full else [lo, hi]
    if Cb == C:
        a = te.placeholder((P * C,), "int8", name="a")
        b = te.placeholder((P * C,), "int8", name="b")
        stages = _outputs((P * C,), lambda i: k + a[i].astype("int32") * ma + b[i].astype("int32") * mb,
                          f, full, lo, hi, own_stage=True)
        return _schedule(te.create_prim_func([a, b, ma, mb, k, *clamp, stages[-1]]), knobs["unroll"])
    k_tail = cm.int_var("k_tail")
    a = te.placeholder((P, C), "int8", name="a")
    b = te.placeholder((P, Cb), "int8", name="b")

    def total(p, c):
        with_b = k + b[p, tirx.min(c, Cb - 1)].astype("int32") * mb
        return tirx.if_then_else(c < Cb, with_b, k_tail) + a[p, c].astype("int32") * ma

    stages = _outputs((P, C), total, f, full, lo, hi, own_stage=False)
    return _schedule(te.create_prim_func([a, b, ma, mb, k, k_tail, *clamp, stages[-1]]), knobs["unroll"], Cb)


def add_tflite_func(P: int, C: int, Cb: int, knobs: dict, rule: str = "tflite"):
    """TFLite's add: (a - za) << 20 and (b - zb) << 20 requantized to a common scale, then the sum."""
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
    return _schedule(sch.mod["main"], knobs["unroll"], None if Cb == C else Cb)


def single_constants(za: int, zb: int, zy: int, lo: int, ma: int, mb: int, f: int) -> tuple[int, int]:
    """(k, k_tail): every per-layer constant of the default-rule kernel folded into one int32.

    k = 2**(f-1) + (zy - lo) 2**f - za Ma - zb Mb, so that (k + a Ma + b Mb) >> f
    = (((a - za) Ma + (b - zb) Mb + 2**(f-1)) >> f) + zy - lo exactly; k_tail has no b term.
    """
    k_tail = (1 << (f - 1)) + (zy - lo) * (1 << f) - za * ma
    return k_tail - zb * mb, k_tail


def _single_plan(graph, node, P: int, C: int, Cb: int, family: str, base_spec: str) -> cm.OpPlan:
    mult = [int(v) for v in node.params["multiplier"].reshape(-1)]
    if len(mult) != 2 or node.params["shift"].size != 1:
        raise ValueError(f"node {node.name}: a default-rule add has multiplier (2,) and shift (1,) "
                         "(mbmicro.reference.arith.add_multipliers)")
    f = int(node.params["shift"].reshape(-1)[0])
    lo, hi = cm.act_bounds(node)
    full = (lo, hi) == (-128, 127)
    za, zb = cm.zero_point(graph, node.inputs[0]), cm.zero_point(graph, node.inputs[1])
    k, k_tail = single_constants(za, zb, cm.zero_point(graph, node.outputs[0]), lo, mult[0], mult[1], f)
    ints = [("ma", mult[0]), ("mb", mult[1]), ("k", cm.as_i32([k], "add constant")[0])]
    if Cb != C:
        ints.append(("k_tail", cm.as_i32([k_tail], "add constant")[0]))
    args = [cm.io_arg("input", "a", node.inputs[0]), cm.io_arg("input", "b", node.inputs[1]),
            *[KernelArg("int", n, "int32_t", int(v)) for n, v in ints],
            *([] if full else cm.out_args(node, graph, y_zp=False)), cm.io_arg("output", "y", node.outputs[0])]
    flat = P * C
    space = {"unroll": [u for u in UNROLL if (flat if Cb == C else Cb) % u == 0]}
    defaults = {"unroll": pick(space["unroll"], _DEFAULT_UNROLL.get(family, 1))}
    return cm.OpPlan(
        prefix="add", spec=f"{base_spec}f{f}" + ("" if full else "r"), args=args, space=space,
        defaults=defaults, build=lambda kn: add_single_func(P, C, Cb, f, full, kn),
        tag=lambda kn: f"u{kn['unroll']}", inplace=True,
        doc=f"int8 add of {P}x{C} and {P}x{Cb} values, one rounding (shift {f}); y may alias a (in place), no restrict",
    )


def plan(graph, node, family: str) -> cm.OpPlan:
    H, W, C = cm.nhwc(graph, node.inputs[0])
    Cb = cm.nhwc(graph, node.inputs[1])[2]
    rule = cm.graph_rule(graph)
    base_spec = f"p{H * W}c{C}" + (f"b{Cb}" if Cb != C else "")
    if rule == "single":
        return _single_plan(graph, node, H * W, C, Cb, family, base_spec)
    mult = [int(v) for v in node.params["multiplier"].reshape(-1)]
    shift = [int(v) for v in node.params["shift"].reshape(-1)]
    ints = [("a_zp", cm.zero_point(graph, node.inputs[0])), ("b_zp", cm.zero_point(graph, node.inputs[1])),
            ("m0", mult[0]), ("s0", shift[0]), ("m1", mult[1]), ("s1", shift[1]),
            ("m2", mult[2]), ("s2", shift[2])]
    args = [cm.io_arg("input", "a", node.inputs[0]), cm.io_arg("input", "b", node.inputs[1]),
            *[KernelArg("int", n, "int32_t", v) for n, v in ints],
            *cm.out_args(node, graph), cm.io_arg("output", "y", node.outputs[0])]
    return cm.OpPlan(
        prefix="add", spec=base_spec + cm.rule_suffix(rule), args=args,
        space={"unroll": [1, 2, 4]}, defaults={"unroll": 1},
        build=lambda kn: add_tflite_func(H * W, C, Cb, kn, rule),
        tag=lambda kn: f"u{kn['unroll']}", inplace=True,
        doc=f"int8 add of {H}x{W}x{C} and {H}x{W}x{Cb}; y may alias a (in place), no restrict",
    )
