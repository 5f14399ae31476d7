"""The candidate regions of a graph: maximal chains of row stages whose inner tensors have one reader."""

from __future__ import annotations

from mbmicro.graph.ir import Graph
from mbmicro.graph.fusion.mixed import mixed_stage
from mbmicro.graph.fusion.stages import Region, Stage, make_region, stage_of, wide_rings


def _stage_at(graph: Graph, index: int, chain_input: str, consumers: dict) -> Stage | None:
    """The stage starting at node ``index`` reading ``chain_input``: a mixed-kernel depthwise
    (several nodes) or one row node."""
    node = graph.nodes[index]
    if node.op == "slice":
        return mixed_stage(graph, index, chain_input, consumers)
    return stage_of(graph, node, chain_input)


def candidate_regions(graph: Graph, family: str | None = None) -> list[Region]:
    """Maximal chains of row stages (at least two nodes) whose inner tensors have one reader,
    with wide rings where the kernel family ``family`` has them (stages.wide_rings; None: none).

    A chain starts at any row-capable node; it grows while the next node in
    execution order reads the previous node's output, is the only reader of
    it, and that output is not the graph output.  A side input must come from
    before the chain (an add's residual).  A mixed-kernel depthwise is one stage
    whose slices are the only readers of its input (:func:`mixed_stage`).
    """
    consumers = graph.consumers()
    produced = {t: i for i, n in enumerate(graph.nodes) for t in n.outputs}
    regions, i, n = [], 0, len(graph.nodes)
    while i < n:
        node = graph.nodes[i]
        first = _stage_at(graph, i, node.inputs[0], consumers) if node.op != "add" else None
        if first is None:
            i += 1
            continue
        stages, j = [first], i + first.span
        while j < n:
            prev = graph.nodes[j - 1].outputs[0]
            nxt = graph.nodes[j]
            if prev in graph.outputs:
                break
            if nxt.op == "slice":
                st = mixed_stage(graph, j, prev, consumers)
                if st is not None and {id(c) for c in consumers[prev]} != {
                        id(graph.nodes[j + 2 * k]) for k in range(len(st.parts))}:
                    st = None
            elif len(consumers[prev]) != 1 or consumers[prev][0] is not nxt:
                break
            else:
                st = stage_of(graph, nxt, prev)
            if st is None or (st.side is not None and produced.get(st.side, -1) >= i):
                break
            stages.append(st)
            j += st.span
        if j - i >= 2:
            regions.append(make_region(graph, i, stages, wide=wide_rings(graph, stages, family)))
        i = j
    return regions
