"""Which arena buffer each tensor lives in, and from which step to which.

Why in graph/: the memory planner (codegen/planner.py) and the size estimate
that refuses impossible builds before any work (models/estimate.py) must
agree exactly on lifetimes and on which outputs reuse an input's bytes, and
the estimate may not import codegen (docs/LAYOUT.md). One function serves both.
"""

from __future__ import annotations

from mbmicro.graph.ir import Graph


def arena_buffers(graph: Graph, inplace: dict[str, tuple[int, ...]], io_in_arena: bool = False,
                  regions=()) -> tuple[dict[str, str], dict[str, tuple[int, int]]]:
    """(root, lifetimes) of the tensors that live in the arena (not graph inputs or outputs,
    unless ``io_in_arena``).

    ``root[t]`` is the tensor whose buffer ``t`` shares (``t`` itself when
    none): an output of an op in ``inplace`` (op -> input positions it may
    overwrite) takes the buffer of such an input when that input dies at this
    step, is not a graph input or output, and has the same byte size.
    ``lifetimes[r]`` is (first step, last step) of buffer root ``r``, over all
    tensors sharing it.

    ``io_in_arena`` (``build --io-in-arena``): the graph input and output are
    arena buffers too. The input lives from step 0 to its last reader, after
    which its bytes are free (the caller may not expect it back); the output
    lives from its producer to the last step (the caller reads it after the run).

    ``regions`` (mbmicro.graph.fusion.Region, ``build --memory``): each fused region
    [start, end] is ONE step, numbered ``start``: its inner tensors are not arena
    buffers (they live in the region's rings, step scratch), its output is produced
    at ``start``, its inputs are read at ``start``, and steps start+1..end run nothing.
    A region marked ``inplace`` writes its output over its chain input when that
    input dies there and is not smaller (row o is written after its last read; an
    in-place stride-2 depthwise writes its smaller output from the buffer's start).
    """
    external = set() if io_in_arena else set(graph.inputs) | set(graph.outputs)
    step_of = list(range(len(graph.nodes)))
    internal: set[str] = set()
    region_at: dict[int, object] = {}
    for r in regions:
        for i in range(r.start, r.end + 1):
            step_of[i] = r.start
        internal.update(r.internal)
        region_at[r.end] = r
    produced = {t: step_of[i] for i, n in enumerate(graph.nodes) for t in n.outputs}
    last_use = dict(produced)
    for i, n in enumerate(graph.nodes):
        for t in n.inputs:
            last_use[t] = max(last_use.get(t, step_of[i]), step_of[i])
    root: dict[str, str] = {}
    if io_in_arena:
        for t in graph.inputs:
            produced[t] = 0
            root[t] = t
        for t in graph.outputs:
            last_use[t] = len(graph.nodes) - 1
    for index, node in enumerate(graph.nodes):
        out = node.outputs[0]
        step = step_of[index]
        if out in external or out in internal:
            continue
        root[out] = out
        region = region_at.get(index)
        if region is not None:
            src = region.input
            if (region.inplace and src not in external and src in root and last_use.get(src) == step
                    and graph.tensors[src].nbytes >= graph.tensors[out].nbytes):
                root[out] = root[src]
            continue
        for pos in inplace.get(node.op, ()):
            if pos >= len(node.inputs):
                continue
            src = node.inputs[pos]
            if (src not in external and last_use.get(src) == step
                    and graph.tensors[src].nbytes == graph.tensors[out].nbytes):
                root[out] = root[src]
                break
    lifetimes: dict[str, tuple[int, int]] = {}
    for t, r in root.items():
        a, b = lifetimes.get(r, (produced[t], last_use[t]))
        lifetimes[r] = (min(a, produced[t]), max(b, last_use[t]))
    return root, lifetimes
