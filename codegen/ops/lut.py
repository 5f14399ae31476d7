"""Table lookup activation (h-swish, sigmoid, ...): y[i] = table[x[i] + 128].

IN PLACE: ``y`` may alias ``x``: each y[i] is written after x[i] is read
at the same index; the signature has no ``restrict``.

Why the table is re-laid: the kernel indexes it by the raw byte of x read as
unsigned, ``table_u[(uint8_t)x]`` with ``table_u[u] = table[u ^ 0x80]`` (the
same 256 values, rotated by 128), so a zero-extending byte load is the index
and no ``+ 128`` is left per element: load, load, store (Cortex-M4).  Why a
flat loop: the op is element-wise, so the tensor is one run of H*W*C bytes and
the 256-byte table stays in L1/TCM.  Knob: unroll (only factors dividing the
element count: no tail test in the loop).
"""

from __future__ import annotations

import numpy as np
from tvm import s_tir, te

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.knobs import pick
from mbmicro.codegen.ops import common as cm

UNROLL = [1, 2, 4, 8]
_DEFAULT_UNROLL = {"cortex-m4": 8, "cortex-m7": 8, "cortex-m55": 8}


def unsigned_index_table(table: np.ndarray) -> np.ndarray:
    """``table_u[u] = table[int8(u) + 128]`` for every byte u: the table indexed by the unsigned byte."""
    return np.ascontiguousarray(np.asarray(table, np.int8).reshape(256)[np.arange(256) ^ 0x80])


def lut_func(N: int, knobs: dict):
    x = te.placeholder((N,), "int8", name="x")
    table = te.placeholder((256,), "int8", name="table")
    y = te.compute((N,), lambda i: table[x[i].astype("uint8").astype("int32")], name="y")
    sch = s_tir.Schedule(te.create_prim_func([x, table, y]))
    if knobs["unroll"] > 1:
        (i,) = sch.get_loops(sch.get_sblock("y"))
        _, inner = sch.split(i, [None, knobs["unroll"]])
        sch.unroll(inner)
    return sch.mod["main"]


def plan(graph, node, family: str) -> cm.OpPlan:
    N = int(graph.tensors[node.inputs[0]].size)
    table = unsigned_index_table(node.params["table"])
    args = [cm.io_arg("input", "x", node.inputs[0]), KernelArg("const", "table", "const int8_t *", table),
            cm.io_arg("output", "y", node.outputs[0])]
    space = {"unroll": [u for u in UNROLL if N % u == 0]}
    return cm.OpPlan(
        prefix="lut", spec=f"n{N}u", args=args, space=space,
        defaults={"unroll": pick(space["unroll"], _DEFAULT_UNROLL.get(family, 1))},
        build=lambda kn: lut_func(N, kn), tag=lambda kn: f"u{kn['unroll']}", inplace=True,
        doc=f"int8 table lookup over {N} values (table indexed by the unsigned byte); y may alias x (in place), no restrict",
    )
