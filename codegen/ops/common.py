"""Pieces every op template shares: the plan an op hands to
:mod:`mbmicro.codegen.kernels`, the requantization expression, and helpers
to read graph nodes.

Why one requantization expression here: the rounding rule of
:func:`mbmicro.reference.arith.requantize` (``(acc*M + 2**(s-1)) >> s`` in
int64, ties towards +infinity) must be written once, so every kernel is
bit-exact with the reference by construction.  The clamp also runs in int64:
with a real scale above 1 a requantized value may exceed int32, and the
reference clamps the exact value.

A graph may name TFLite's rule instead (``graph.meta["requant"] =
"tflite"``, :func:`mbmicro.reference.arith.requantize_tflite`): every op
template reads it with :func:`graph_rule`, passes it to
:func:`requantize_by` and appends :func:`rule_suffix` to its spec, so kernels
of the two rules never share a name and single-rounding kernels keep theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from tvm import te, tirx

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.reference.arith import requant_rule


@dataclass
class OpPlan:
    """What an op template knows about one node before choosing knobs.

    ``build(knobs)`` returns a scheduled PrimFunc whose parameters are, in
    order, exactly ``args_for(knobs)`` (same names: ``args`` unless a knob
    re-lays a constant, e.g. the DSP depthwise kernel's int16 weights).  ``spec`` must encode everything
    the generated source depends on besides the knobs.
    """

    prefix: str
    spec: str
    args: list[KernelArg]
    space: dict[str, list]
    defaults: dict[str, Any]
    build: Callable[[dict], tirx.PrimFunc]
    tag: Callable[[dict], str]
    inplace: bool = False  # out may alias an input: no ``restrict``
    doc: str = ""
    #: micro-kernel headers (codegen/microkernels) the source calls with these knobs
    headers: Callable[[dict], tuple[str, ...]] = lambda knobs: ()
    #: the C parameters with these knobs, when a knob changes them (a micro-kernel that
    #: reads its weights in its own layout); None: always ``args``
    arg_layout: Callable[[dict], list[KernelArg]] | None = None

    def args_for(self, knobs: dict) -> list[KernelArg]:
        """The kernel's parameters for ``knobs`` (same names as the built PrimFunc's)."""
        return self.arg_layout(knobs) if self.arg_layout else self.args


def i64(expr):
    if isinstance(expr, int):
        return tirx.const(expr, "int64")
    return expr.astype("int64")


def requantize(acc, mult, shift):
    """int64 ``(acc*M + (1 << (s-1))) >> s``: the one rounding rule."""
    s = i64(shift)
    one = tirx.const(1, "int64")
    return tirx.shift_right(i64(acc) * i64(mult) + tirx.shift_left(one, s - one), s)


def requantize_tflite(acc, mult, shift):
    """TFLite's MultiplyByQuantizedMultiplier(acc, M, 31 - s) in int64 arithmetic.

    exponent = 31 - s; a positive exponent shifts the int32 value left first
    (wrapping to int32 as TFLite's int32 multiply does), then
    SaturatingRoundingDoublingHighMul is ``(x*M + 2**30) >> 31`` (the one
    saturating case needs M = INT32_MIN, which a non-negative multiplier never
    is), then RoundingDivideByPOT by -exponent rounds half away from zero.
    """
    one = tirx.const(1, "int64")
    exp = tirx.const(31, "int64") - i64(shift)
    left = tirx.max(exp, tirx.const(0, "int64"))
    right = tirx.max(-exp, tirx.const(0, "int64"))
    x = tirx.shift_left(i64(acc), left).astype("int32").astype("int64")
    high = tirx.shift_right(x * i64(mult) + tirx.const(1 << 30, "int64"), tirx.const(31, "int64"))
    half = tirx.shift_right(tirx.shift_left(one, right), one)
    nudge = half - tirx.if_then_else(high < tirx.const(0, "int64"), tirx.min(half, one), tirx.const(0, "int64"))
    return tirx.shift_right(high + nudge, right)


def requantize_by(rule: str, acc, mult, shift):
    """The requantization of ``rule`` ("single" or "tflite")."""
    if rule == "single":
        return requantize(acc, mult, shift)
    if rule == "tflite":
        return requantize_tflite(acc, mult, shift)
    raise ValueError(f"unknown requantization rule {rule!r}")


#: The shifts for which :func:`requantize_hi32` equals :func:`requantize`.
HI32_SHIFTS = (33, 62)
#: |x * w| of one int8 product is at most 128 * 127 < 2**14.
_MAX_PRODUCT = 1 << 14


def hi32_applies(bias, shift, C: int) -> bool:
    """Whether every channel of a GEMM with reduction length ``C`` may use requantize_hi32:
    each shift in HI32_SHIFTS and acc + bias provably inside int32."""
    s = np.asarray(shift, dtype=np.int64)
    b = np.abs(np.asarray(bias, dtype=np.int64))
    lo, hi = HI32_SHIFTS
    return bool(s.size and s.min() >= lo and s.max() <= hi
                and int(b.max(initial=0)) + C * _MAX_PRODUCT < (1 << 31))


def requantize_hi32(acc32, mult, shift):
    """:func:`requantize` of an int32 value with 32-bit work only, for shifts 33..62.

    ``floor((a*M + 2**(s-1)) / 2**s)`` is ``floor(floor((a*M + 2**(s-1)) / 2**32) / 2**(s-32))``
    (nested floor division), and for s >= 33 the rounding term is a multiple of 2**32, so the
    inner floor is ``hi32(a*M) + 2**(s-33)`` with ``hi32(a*M) = (a*M) >> 32`` (SMMUL / SMULL high
    word).  |a*M| < 2**62 keeps that sum and the result inside int32.  Same value as
    :func:`requantize` bit for bit; the callers check the preconditions with :func:`hi32_applies`.
    """
    s = shift
    hi = tirx.shift_right(i64(acc32) * i64(mult), tirx.const(32, "int64")).astype("int32")
    one = tirx.const(1, "int32")
    return tirx.shift_right(hi + tirx.shift_left(one, s - tirx.const(33, "int32")), s - tirx.const(32, "int32"))


def clamp_i8_32(value32, zp, lo, hi):
    """int8(clamp(value + zp, lo, hi)) in int32 (for values known to fit int32)."""
    return tirx.max(tirx.min(value32 + zp, hi), lo).astype("int8")


def divide_round_away(value64, n: int):
    """``v > 0 ? (v + n/2) / n : (v - n/2) / n`` with C truncation (TFLite's MEAN / AVERAGE_POOL_2D)."""
    half = tirx.const(int(n) // 2, "int64")
    num = tirx.if_then_else(value64 > tirx.const(0, "int64"), value64 + half, value64 - half)
    return tirx.truncdiv(num, tirx.const(int(n), "int64"))


def graph_rule(graph) -> str:
    """The requantization rule of the graph a node belongs to."""
    return requant_rule(graph)


def rule_suffix(rule: str) -> str:
    """Spec suffix: empty for the default rule (names and sources unchanged), "qt" for TFLite's."""
    return "" if rule == "single" else "qt"


def clamp_i8(value64, zp, lo, hi):
    """int8(clamp(value + zp, lo, hi)) with the clamp done in int64."""
    v = value64 + i64(zp)
    return tirx.max(tirx.min(v, i64(hi)), i64(lo)).astype("int8")


def int_var(name: str):
    return te.var(name, "int32")


def tensor_shape(graph, name: str) -> tuple[int, ...]:
    return tuple(int(d) for d in graph.tensors[name].shape)


def nhwc(graph, name: str) -> tuple[int, int, int]:
    """(H, W, C) of a batch-1 NHWC tensor."""
    shape = tensor_shape(graph, name)
    if len(shape) != 4 or shape[0] != 1:
        raise ValueError(f"tensor {name} must be (1, H, W, C), got {shape}")
    return shape[1], shape[2], shape[3]


def zero_point(graph, name: str) -> int:
    zp = graph.tensors[name].zero_point
    return int(zp) if zp is not None else 0


def act_bounds(node) -> tuple[int, int]:
    return int(node.attrs.get("act_min", -128)), int(node.attrs.get("act_max", 127))


def as_i32(array, what: str) -> np.ndarray:
    a = np.asarray(array)
    if a.size and (a.min() < -(1 << 31) or a.max() >= (1 << 31)):
        raise ValueError(f"{what} does not fit in int32")
    return np.ascontiguousarray(a.astype(np.int32))


def folded_bias(bias, weight_by_out: np.ndarray, x_zp: int) -> np.ndarray:
    """bias' = bias - zx * sum(w) per output channel (first axis of weight)."""
    w = weight_by_out.reshape(weight_by_out.shape[0], -1).astype(np.int64)
    b = np.asarray(bias, dtype=np.int64) - int(x_zp) * w.sum(axis=1)
    return as_i32(b, "folded bias")


def requant_args(node, n: int) -> list[KernelArg]:
    """Per-channel multiplier and shift as const int32 arrays of length n."""
    mult = as_i32(np.broadcast_to(node.params["multiplier"], (n,)), "multiplier")
    shift = as_i32(np.broadcast_to(node.params["shift"], (n,)), "shift")
    return [KernelArg("const", "mult", "const int32_t *", mult),
            KernelArg("const", "shift", "const int32_t *", shift)]


def out_args(node, graph, y_zp: bool = True, act: bool = True) -> list[KernelArg]:
    """Scalar int32 output parameters: y zero point and clamp bounds."""
    args = []
    if y_zp:
        args.append(KernelArg("int", "y_zp", "int32_t", zero_point(graph, node.outputs[0])))
    if act:
        lo, hi = act_bounds(node)
        args += [KernelArg("int", "act_min", "int32_t", lo), KernelArg("int", "act_max", "int32_t", hi)]
    return args


def weighted_args(graph, node, weight: np.ndarray, weight_by_out: np.ndarray, n_out: int,
                  pad: tuple[int, ...] = ()) -> list[KernelArg]:
    """The C parameters of every weighted kernel (conv2d, depthwise, pointwise), in order:
    x, w, bias (input zero point folded in), mult, shift, [x_zp when padded: padded taps
    read it], y_zp, act_min, act_max, y.  ``weight`` is in the kernel's layout,
    ``weight_by_out`` the same values with the output channel first."""
    x_zp = zero_point(graph, node.inputs[0])
    args = [
        io_arg("input", "x", node.inputs[0]),
        KernelArg("const", "w", "const int8_t *", np.array(weight, dtype=np.int8)),
        KernelArg("const", "bias", "const int32_t *", folded_bias(node.params["bias"], weight_by_out, x_zp)),
        *requant_args(node, n_out),
    ]
    if any(pad):
        args.append(KernelArg("int", "x_zp", "int32_t", x_zp))
    return [*args, *out_args(node, graph), io_arg("output", "y", node.outputs[0])]


def io_arg(kind: str, name: str, tensor: str) -> KernelArg:
    ctype = "const int8_t *" if kind == "input" else "int8_t *"
    return KernelArg(kind, name, ctype, tensor)


def padded(n: int, block: int) -> int:
    """n rounded up to a multiple of block."""
    return -(-n // block) * block


def clamp_index(extent: int, padded_extent: int):
    """Index map for a tile-padded axis: reads past the end re-read the last
    element (valid memory, results discarded), so no predicate lands in the
    inner loop."""
    if padded_extent == extent:
        return lambda i: i
    return lambda i: tirx.min(i, extent - 1)


def unroll_all(sch, loops) -> None:
    for loop in loops:
        sch.unroll(loop)
