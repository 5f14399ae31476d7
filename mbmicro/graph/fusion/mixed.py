"""MixNet's mixed-kernel depthwise (MixConv: slice -> depthwise per channel group -> concat) as one stage."""

from __future__ import annotations

from mbmicro.graph.ir import Graph
from mbmicro.graph.fusion.stages import Stage, hwc, stage_of


def mixed_stage(graph: Graph, index: int, chain_input: str, consumers: dict) -> Stage | None:
    """The row view of a mixed-kernel depthwise starting at node ``index`` (MixNet's MixConv:
    slice -> depthwise, per channel group in order, -> concat), or None when the nodes there are
    not one.  Its window is the largest kernel's: every group's depthwise reads its own centered
    sub-window of it (its own top padding is the largest's minus its offset), so the groups
    must share stride and output rows, and each sub-window must lie inside the window."""
    nodes, i, parts, begin = graph.nodes, index, [], 0
    while i + 1 < len(nodes) and nodes[i].op == "slice" and nodes[i].inputs[0] == chain_input:
        sl, dw = nodes[i], nodes[i + 1]
        if (dw.op != "depthwise" or dw.inputs[0] != sl.outputs[0] or int(sl.attrs["begin"]) != begin
                or len(consumers[sl.outputs[0]]) != 1 or sl.outputs[0] in graph.outputs):
            return None
        part = stage_of(graph, dw, sl.outputs[0])
        if part is None or len(consumers[dw.outputs[0]]) != 1 or dw.outputs[0] in graph.outputs:
            return None
        parts.append((sl.name, part))
        begin = int(sl.attrs["end"])
        i += 2
    if len(parts) < 2 or i >= len(nodes) or nodes[i].op != "concat":
        return None
    cat = nodes[i]
    if cat.inputs != [nodes[index + 2 * k + 1].outputs[0] for k in range(len(parts))] or len(cat.outputs) != 1:
        return None
    if len(graph.tensors[cat.outputs[0]].shape) != 4 or hwc(graph, chain_input)[2] != begin:
        return None
    big = max((p for _, p in parts), key=lambda p: p.kh)
    if any(p.stride != big.stride or p.out_rows != big.out_rows for _, p in parts):
        return None
    offsets = [big.pad_top - p.pad_top for _, p in parts]
    if any(off < 0 or off + p.kh > big.kh for off, (_, p) in zip(offsets, parts)):
        return None
    h_in, w_in, c_in = hwc(graph, chain_input)
    h_out, w_out, c_out = hwc(graph, cat.outputs[0])
    if (h_out, c_out) != (big.out_rows, c_in):
        return None
    return Stage(cat.name, "mixed", big.kh, big.stride, big.pad_top, big.pad_bottom, h_in, h_out,
                 w_in * c_in, w_out * c_out, chain_input, None, sum(p.macs for _, p in parts), w_out,
                 parts=tuple((name, p.node, off, p.kh, p.out_row_bytes // p.width)
                             for off, (name, p) in zip(offsets, parts)))
