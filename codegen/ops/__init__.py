"""One TE definition + schedule template per op family.

Each module exposes ``plan(graph, node, family) -> OpPlan``; :func:`plan_for`
picks the module for a node (a 1x1 stride-1 conv2d with at most
DENSE_GROUPS_MAX groups is a pointwise GEMM, every other conv2d goes to the
general direct convolution).  Why up to 4 groups (mbmicro.graph.ir.runs_dense):
measured on the Cortex-M4 (MixNet-M's groups=2 expansions and projections), the
general direct convolution takes 11-17 instructions per MAC, the pointwise
kernel on block-diagonal dense weights ~1.3 per executed MAC, so up to 4 groups
(4x the executed MACs) still wins.
"""

from __future__ import annotations

from importlib import import_module

from mbmicro.graph.ir import DENSE_GROUPS_MAX, runs_dense  # noqa: F401  (DENSE_GROUPS_MAX: re-exported)

_MODULES = {
    "depthwise": "depthwise",
    "fully_connected": "fully_connected",
    "add": "add",
    "global_avg_pool": "global_avg_pool",
    "mul": "mul",
    "lut": "lut",
    "concat": "concat",
    "slice": "slice",
    "softmax": "softmax",
}


def plan_for(graph, node, family: str):
    if node.op == "conv2d":
        name = "pointwise" if runs_dense(node) else "conv2d"
    elif node.op in _MODULES:
        name = _MODULES[node.op]
    else:
        raise ValueError(f"node {node.name}: op {node.op!r} has no int8 kernel")
    module = import_module(f"mbmicro.codegen.ops.{name}")
    return module.plan(graph, node, family)
