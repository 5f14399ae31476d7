"""Table lookup activation (h-swish, sigmoid, ...): y[i] = table[x[i] + 128].

IN PLACE: ``y`` may alias ``x``: each y[i] is written after x[i] is read
at the same index; the signature has no ``restrict``.

Why a flat loop: the op is element-wise, so the tensor is one run of
H*W*C bytes and the 256-byte table stays in L1/TCM.  Knob: unroll.
"""

from __future__ import annotations

from tvm import s_tir, te

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.ops import common as cm

UNROLL = [1, 2, 4]


def lut_func(N: int, knobs: dict):
    x = te.placeholder((N,), "int8", name="x")
    table = te.placeholder((256,), "int8", name="table")
    y = te.compute((N,), lambda i: table[x[i].astype("int32") + 128], name="y")
    sch = s_tir.Schedule(te.create_prim_func([x, table, y]))
    if knobs["unroll"] > 1:
        (i,) = sch.get_loops(sch.get_sblock("y"))
        _, inner = sch.split(i, [None, knobs["unroll"]])
        sch.unroll(inner)
    return sch.mod["main"]


def plan(graph, node, family: str) -> cm.OpPlan:
    N = int(graph.tensors[node.inputs[0]].size)
    table = node.params["table"].reshape(256).astype("int8").copy()
    args = [cm.io_arg("input", "x", node.inputs[0]), KernelArg("const", "table", "const int8_t *", table),
            cm.io_arg("output", "y", node.outputs[0])]
    return cm.OpPlan(
        prefix="lut", spec=f"n{N}", args=args, space={"unroll": UNROLL}, defaults={"unroll": 1},
        build=lambda kn: lut_func(N, kn), tag=lambda kn: f"u{kn['unroll']}", inplace=True,
        doc=f"int8 table lookup over {N} values; y may alias x (in place), no restrict",
    )
