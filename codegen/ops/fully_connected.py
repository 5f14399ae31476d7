"""fully_connected: the classifier, (1,1,1,C) x (N,C)^T -> (1,1,1,N).

It is the pointwise GEMM with one pixel, so it reuses that template with
tile_p fixed to 1: each reduction step loads one input byte and tile_oc
weight bytes.  Knobs: tile_oc, unroll.
"""

from __future__ import annotations

from mbmicro.codegen.ops import common as cm
from mbmicro.codegen.ops.pointwise import plan_gemm


def plan(graph, node, family: str) -> cm.OpPlan:
    C = cm.nhwc(graph, node.inputs[0])[2]
    N = cm.nhwc(graph, node.outputs[0])[2]
    weight = node.params["weight"].reshape(N, C)
    p = plan_gemm(graph, node, family, "fc", 1, C, N, weight)
    p.spec = f"c{C}o{N}{cm.rule_suffix(cm.graph_rule(graph))}"
    p.doc = f"int8 fully connected: {C} -> {N}, per-channel requantize"
    return p
