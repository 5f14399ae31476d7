"""Channel concatenation (all inputs share the output's scale and zero
point, so it is a pure copy).  The channel loop is partitioned at the input
boundaries (``loop_partition``), so each part is a plain copy loop with no
select.  Not in place.  No knobs.
"""

from __future__ import annotations

from tvm import s_tir, te, tirx

from mbmicro.codegen.ops import common as cm


def concat_func(P: int, chans: list[int]):
    xs = [te.placeholder((P, c), "int8", name=f"x{i}") for i, c in enumerate(chans)]
    starts = [sum(chans[:i]) for i in range(len(chans))]

    def value(p, c):
        out = xs[-1][p, tirx.max(c - starts[-1], 0)]
        for x, start, n in reversed(list(zip(xs[:-1], starts[:-1], chans[:-1]))):
            out = tirx.if_then_else(c < start + n, x[p, tirx.max(tirx.min(c - start, n - 1), 0)], out)
        return out

    y = te.compute((P, sum(chans)), value, name="y")
    sch = s_tir.Schedule(te.create_prim_func(xs + [y]))
    if len(chans) > 1:
        _, c = sch.get_loops(sch.get_sblock("y"))
        sch.loop_partition(c, chans[:-1] + [None])
    return sch.mod["main"]


def plan(graph, node, family: str) -> cm.OpPlan:
    H, W, _ = cm.nhwc(graph, node.outputs[0])
    chans = [cm.nhwc(graph, t)[2] for t in node.inputs]
    args = [cm.io_arg("input", f"x{i}", t) for i, t in enumerate(node.inputs)]
    args.append(cm.io_arg("output", "y", node.outputs[0]))
    return cm.OpPlan(
        prefix="cat", spec=f"p{H * W}c" + "_".join(str(c) for c in chans), args=args, space={}, defaults={},
        build=lambda kn: concat_func(H * W, chans), tag=lambda kn: "",
        doc=f"int8 channel concat of {chans} over {H}x{W} pixels",
    )
