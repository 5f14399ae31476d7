"""int8 softmax over channels (TFLite's fixed-point algorithm): a call of the
micro-kernel ``mbmicro_softmax_s8`` (codegen/microkernels/mbmicro_softmax.h).

Why an extern call placed by TVM: the op runs once per inference on one
vector of classes and is sequential fixed-point arithmetic (two passes over
a row with a reciprocal in between), which a hand-written C function states
plainly; the kernel is still a TIR function lowered by TVM like every other
one, whose body is that call.  Not in place (``restrict`` pointers): the
micro-kernel reads x twice.  No knobs.

Parameters: x, input_multiplier, input_left_shift, diff_min (TFLM's Prepare
numbers, per layer), y; rows and depth are shape constants in the call.
"""

from __future__ import annotations

from tvm import te, tirx

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.ops import common as cm

HEADER = "mbmicro_softmax.h"
FUNCTION = "mbmicro_softmax_s8"


def softmax_func(rows: int, depth: int):
    """PrimFunc (x, input_multiplier, input_left_shift, diff_min, y) calling the micro-kernel."""
    x = te.placeholder((rows * depth,), "int8", name="x")
    mult, left, diff_min = (cm.int_var(n) for n in ("input_multiplier", "input_left_shift", "diff_min"))

    def body(ins, outs):
        return tirx.call_extern("void", FUNCTION, ins[0].data, outs[0].data,
                                tirx.const(rows, "int32"), tirx.const(depth, "int32"), mult, left, diff_min)

    y = te.extern((rows * depth,), [x], body, name="y", dtype="int8")
    return te.create_prim_func([x, mult, left, diff_min, y])


def plan(graph, node, family: str) -> cm.OpPlan:
    H, W, C = cm.nhwc(graph, node.inputs[0])
    a = node.attrs
    ints = [("input_multiplier", int(a["input_multiplier"])), ("input_left_shift", int(a["input_left_shift"])),
            ("diff_min", int(a["diff_min"]))]
    args = [cm.io_arg("input", "x", node.inputs[0]), *[KernelArg("int", n, "int32_t", v) for n, v in ints],
            cm.io_arg("output", "y", node.outputs[0])]
    return cm.OpPlan(
        prefix="smx", spec=f"p{H * W}c{C}", args=args, space={}, defaults={},
        build=lambda kn: softmax_func(H * W, C), tag=lambda kn: "", headers=lambda kn: (HEADER,),
        doc=f"int8 softmax (TFLite fixed point) over {C} channels of {H}x{W} pixels; "
            f"calls {FUNCTION} ({HEADER})",
    )
