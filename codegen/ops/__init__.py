"""One TE definition + schedule template per op family.

Each module exposes ``plan(graph, node, family) -> OpPlan``; :func:`plan_for`
picks the module for a node (a 1x1 stride-1 conv2d with at most
DENSE_GROUPS_MAX groups is a pointwise GEMM, every other conv2d goes to the
general direct convolution).
"""

from __future__ import annotations

from importlib import import_module

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


#: A grouped 1x1 conv with this many groups or fewer runs as the pointwise GEMM on its
#: block-diagonal dense weights (codegen/ops/pointwise.py, dense_weight): G times its MACs,
#: but on every target's fast pointwise kernel.  Measured on the Cortex-M4 (MixNet-M's groups=2
#: expansions and projections): the general direct convolution takes 11-17 instructions per
#: MAC there, the pointwise kernel ~1.3 per executed MAC, so up to 4 groups still wins.
DENSE_GROUPS_MAX = 4


def _is_pointwise(node) -> bool:
    kernel = tuple(node.attrs.get("kernel", (1, 1)))
    return (kernel == (1, 1) and int(node.attrs.get("stride", 1)) == 1
            and int(node.attrs.get("groups", 1)) <= DENSE_GROUPS_MAX)


def plan_for(graph, node, family: str):
    if node.op == "conv2d":
        name = "pointwise" if _is_pointwise(node) else "conv2d"
    elif node.op in _MODULES:
        name = _MODULES[node.op]
    else:
        raise ValueError(f"node {node.name}: op {node.op!r} has no int8 kernel")
    module = import_module(f"mbmicro.codegen.ops.{name}")
    return module.plan(graph, node, family)
