"""Channel slice y = x[..., begin:end] (same scale and zero point: a copy).
Not in place.  No knobs.
"""

from __future__ import annotations

from tvm import s_tir, te

from mbmicro.codegen.ops import common as cm


def slice_func(P: int, C: int, begin: int, end: int):
    x = te.placeholder((P, C), "int8", name="x")
    y = te.compute((P, end - begin), lambda p, c: x[p, c + begin], name="y")
    return s_tir.Schedule(te.create_prim_func([x, y])).mod["main"]


def plan(graph, node, family: str) -> cm.OpPlan:
    H, W, C = cm.nhwc(graph, node.inputs[0])
    begin, end = int(node.attrs["begin"]), int(node.attrs["end"])
    if not 0 <= begin < end <= C:
        raise ValueError(f"node {node.name}: slice [{begin}, {end}) of {C} channels")
    args = [cm.io_arg("input", "x", node.inputs[0]), cm.io_arg("output", "y", node.outputs[0])]
    return cm.OpPlan(
        prefix="slc", spec=f"p{H * W}c{C}b{begin}e{end}", args=args, space={}, defaults={},
        build=lambda kn: slice_func(H * W, C, begin, end), tag=lambda kn: "",
        doc=f"int8 channel slice [{begin}, {end}) of {H}x{W}x{C}",
    )
