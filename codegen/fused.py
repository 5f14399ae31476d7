"""C of a fused region: the TVM kernels lowered on row-shaped copies of its nodes, and the row loop.

Why row-shaped copies of the nodes, lowered by the ordinary
:func:`mbmicro.codegen.kernels.lower_node`: every target's tuned kernel path
(dsp/dspx on the M4/M7, mve on the M55, neon on the A53) is used as it is,
with no second kernel generator.  A KHxKW conv or depthwise becomes the same
op on (KH, W, C) -> (1, Wo, C) with no top/bottom padding (those rows are
explicit zero-point rows of the ring) and the original left/right padding; a
1x1 conv, a LUT and an add become the op on one row; a mixed-kernel depthwise
becomes its slice, depthwise and concat nodes on rows (:func:`mixed_row_graphs`).
The weights are the node's own (same symbols as an unfused build).

The loop is demand-driven (mbmicro.graph.fusion.schedule is the same order in
Python): for each output group ``o`` the last stage asks for the padded rows
of its input window; ``while (d_k < need)`` the stage before produces them,
one padding row (filled with the consumer's input zero point) or one group of
real rows at a time, first asking its own input for the rows that group needs
(nested loops, one per stage), then fixing up the ring so that any window is
contiguous.  So each ring holds only its consumer's window (plus a producer
group's overshoot), and the last stage writes the region's output rows.
A row kernel is a kernel of its own for ``mbmicro tune`` (its key has the row
shapes), so a tuning log's record of it applies to it and a whole-tensor record
does not (:func:`region_row_graphs` is what both the build and tune see).
"""

from __future__ import annotations

import dataclasses

from mbmicro.graph import fusion
from mbmicro.graph.fusion import Region, Stage
from mbmicro.graph.ir import Graph, Node

HEADER = "mbmicro_fused.h"


def row_graph(graph: Graph, stage: Stage) -> tuple[Graph, Node]:
    """A graph holding one row-shaped copy of the stage's node (same tensor names and qparams)."""
    node = graph.node(stage.node)
    rows = {stage.chain_input: stage.window_rows, node.outputs[0]: stage.group}
    if stage.side is not None:
        rows[stage.side] = stage.group
    return _row_copy(graph, node, rows)


def mixed_row_graphs(graph: Graph, stage: Stage) -> list[tuple[Graph, Node]]:
    """Row graphs of a mixed-kernel depthwise's nodes, in execution order: per group the slice
    of its sub-window ((G - 1) * S + its KH rows of all channels -> of its channels) and its
    depthwise on that (no top/bottom padding: its sub-window starts at its own first padded row),
    then the concat of the groups' output rows."""
    out = []
    for slice_name, dw_name, _, kh, _ in stage.parts:
        window = (stage.group - 1) * stage.stride + kh
        sliced = graph.node(slice_name).outputs[0]
        out.append(_row_copy(graph, graph.node(slice_name), {stage.chain_input: window, sliced: window}))
        dw = graph.node(dw_name)
        out.append(_row_copy(graph, dw, {sliced: window, dw.outputs[0]: stage.group}))
    cat = graph.node(stage.node)
    out.append(_row_copy(graph, cat, {**{t: stage.group for t in cat.inputs}, cat.outputs[0]: stage.group}))
    return out


def _row_copy(graph: Graph, node: Node, rows: dict[str, int]) -> tuple[Graph, Node]:
    """``node`` on tensors of ``rows[name]`` rows each (top/bottom padding dropped)."""
    tensors = {}
    for name, n in rows.items():
        t = graph.tensors[name]
        tensors[name] = dataclasses.replace(t, shape=(1, n, int(t.shape[2]), int(t.shape[3])))
    attrs = dict(node.attrs)
    if "pad" in attrs:
        top, left, bottom, right = (int(p) for p in attrs["pad"])
        attrs["pad"] = (0, left, 0, right)
    copy = dataclasses.replace(node, inputs=list(node.inputs), outputs=list(node.outputs), attrs=attrs,
                               params=dict(node.params))
    inputs = [t for t in copy.inputs if t in tensors]
    g = Graph(f"{graph.name}.{node.name}.row", tensors, [copy], inputs[:1], list(copy.outputs), dict(graph.meta))
    return g, copy


def build_regions(graph: Graph, memory: str, io_in_arena: bool, cost=None) -> list[Region]:
    """The regions a build with ``--memory memory`` runs (codegen/aot.py; the benchmarks plan
    with the same): mbmicro.graph.fusion.find_regions, given more rows per call by
    :func:`widen_groups` in balanced mode; ``cost``: the target's kernel family
    (fusion.family_of of its features; None: the M4's)."""
    regions = fusion.find_regions(graph, memory, io_in_arena, cost)
    return widen_groups(graph, regions, io_in_arena, cost) if memory == "balanced" else regions


def widen_groups(graph: Graph, regions: list[Region], io_in_arena: bool, cost=None) -> list[Region]:
    """Give each region the most rows per call (fusion.groups_for) that lowers its estimated
    instructions without raising the planned arena: larger rings in memory that is free anyway.

    Why here and not in graph/fusion/: only the planner knows whether a larger ring still
    fits below the peak; the up-front estimate keeps one row per call, a lower bound."""
    from mbmicro.codegen.planner import plan_graph

    out = list(regions)
    peak = plan_graph(graph, io_in_arena=io_in_arena, regions=out).peak
    for i, region in enumerate(out):
        if region.delay_rows:  # an in-place depthwise: one row per call into its delay buffer
            continue
        for g in fusion.groups_for(region.stages)[1:]:
            trial = fusion.make_region(graph, region.start, region.stages, g)
            if fusion.region_extra_insns(trial, cost) >= fusion.region_extra_insns(out[i], cost):
                continue
            candidate = out[:i] + [trial] + out[i + 1:]
            if plan_graph(graph, io_in_arena=io_in_arena, regions=candidate).peak <= peak:
                out = candidate
    return out


def region_row_graphs(graph: Graph, region: Region) -> list[tuple[Stage, Graph, Node]]:
    """Every node of ``region`` in execution order with its stage and its row graph: what
    :func:`lower_region` lowers, and what ``mbmicro tune --memory`` tunes (mbmicro.tune.measure),
    from one definition so that the two see the same kernels."""
    return [(stage, g, node) for stage in region.stages
            for g, node in (mixed_row_graphs(graph, stage) if stage.parts else [row_graph(graph, stage)])]


def lower_region(graph: Graph, region: Region, target, lower, knobs=None) -> list:
    """NodeKernel per node of ``region`` (execution order), each lowered on its row graph.

    ``knobs(row_graph, node)``: the knobs of that row kernel (a tuning log's, mbmicro.tune.apply,
    matched by the row kernel's own key), None for its defaults; no ``knobs``: every default."""
    return [lower(g, node, target, knobs(g, node) if knobs else None)
            for _, g, node in region_row_graphs(graph, region)]


def _zp(graph: Graph, tensor: str) -> int:
    zp = graph.tensors[tensor].zero_point
    return int(zp) if zp is not None else 0


def render_region(program, region: Region, kernels: list, call, tensor_pointer) -> list[str]:
    """The C statements of one region (inside ``run_with_arena``), indented by four spaces.

    ``call(step, kernel, pointers)`` renders one kernel call with ``pointers``
    mapping tensor name -> C expression for its input/output arguments;
    ``tensor_pointer(program, tensor)`` is the C expression of a full tensor (codegen/aot.py).
    """
    g, plan = program.graph, program.plan
    if region.delay_rows:
        from mbmicro.codegen.inplace_dw import render_inplace

        return render_inplace(program, region, kernels, call, tensor_pointer, lambda t: _zp(g, t))
    base, _ = plan.scratch[region.start]
    layout = region.scratch_layout()
    st = region.stages
    L = len(st)
    lines = ["    {"]
    for k in range(L - 1):
        lines.append(f"        int8_t *const ring{k} = arena + {base + layout[k][0]};"
                     f" /* {g.node(st[k].node).outputs[0]}: {region.rings[k][0]} rows + {region.rings[k][1]} mirror,"
                     f" {st[k].out_row_bytes} B each */")
    if region.window_scratch:
        lines.append(f"        int8_t *const window = arena + {base + layout[L - 1][0]};")
    parts_at, at = {}, L  # a mixed stage's part buffers: after the rings and the window scratch
    for k, s in enumerate(st):
        if s.parts:
            parts_at[k] = [f"arena + {base + off}" for off, _ in layout[at:at + 1 + len(s.parts)]]
            at += 1 + len(s.parts)
    first_node = [sum(s.span for s in st[:k]) for k in range(L)]
    x = tensor_pointer(program, region.input)
    y = tensor_pointer(program, region.output)
    if L > 1:
        lines.append("        " + " ".join(f"int32_t d{k} = 0;" for k in range(L - 1)))
    lines.append("        int32_t o;")
    lines.append(f"        for (o = 0; o < {st[-1].out_rows}; o += {st[-1].group}) {{")

    def source(k: int, row: str) -> str:
        s = st[k]
        if k == 0:
            if not region.window_scratch:  # every window lies inside the input: read in place
                return f"{x} + ({row}) * {s.stride} * {s.in_row_bytes}"
            return (f"mbmicro_fused_window({x}, {s.in_rows}, {s.in_row_bytes}, ({row}) * {s.stride} - "
                    f"{s.pad_top}, {s.window_rows}, {_zp(g, s.chain_input)}, window)")
        rows = region.rings[k - 1][0]
        return f"ring{k - 1} + ((({row}) * {s.stride}) % {rows}) * {s.in_row_bytes}"

    def stage_call(k: int, row: str, dst: str) -> list[str]:
        s = st[k]
        node = g.node(s.node)
        if s.parts:
            return mixed_call(k, row, dst)
        pointers = {s.chain_input: source(k, row), node.outputs[0]: dst}
        if s.side is not None:
            side_row = g.tensors[s.side].shape[2] * g.tensors[s.side].shape[3]
            pointers[s.side] = f"{tensor_pointer(program, s.side)} + ({row}) * {side_row}"
        return [call(region.start + first_node[k], kernels[first_node[k]], pointers)]

    def mixed_call(k: int, row: str, dst: str) -> list[str]:
        """Per group: slice its sub-window (from its offset in the window) into the shared buffer,
        its depthwise into its rows buffer; then the concat of those rows into ``dst``."""
        s, j = st[k], first_node[k]
        sliced, *group_rows = parts_at[k]
        calls = []
        for n, (slice_name, dw_name, offset, _, _) in enumerate(s.parts):
            x_part, y_part = g.node(slice_name).outputs[0], g.node(dw_name).outputs[0]
            calls.append(call(region.start + j, kernels[j], {
                s.chain_input: f"{source(k, row)} + {offset * s.in_row_bytes}", x_part: sliced}))
            calls.append(call(region.start + j + 1, kernels[j + 1], {x_part: sliced, y_part: group_rows[n]}))
            j += 2
        cat = g.node(s.node)
        pointers = {t: group_rows[n] for n, t in enumerate(cat.inputs)}
        pointers[cat.outputs[0]] = dst
        return [*calls, call(region.start + j, kernels[j], pointers)]

    def pull(k: int, row: str, ind: str) -> list[str]:
        """Stage k's call for its real rows from ``row``: first the rows of its input it lacks."""
        if k == 0:
            return []
        s = st[k]
        return [f"{ind}const int32_t p{k - 1} = ({row}) * {s.stride} + {s.window_rows};",
                *produce(k - 1, f"p{k - 1}", ind)]

    def produce(k: int, need: str, ind: str) -> list[str]:
        """``while (d_k < need)``: padding rows filled, real rows by stage k's kernel, ring fixed up."""
        consumer = st[k + 1]
        rows, mirror = region.rings[k]
        rb, group = st[k].out_row_bytes, st[k].group
        inner = ind + "    "
        out = [f"{ind}while (d{k} < {need}) {{",
               f"{inner}const int32_t slot{k} = d{k} % {rows};",
               f"{inner}int8_t *const dst{k} = ring{k} + slot{k} * {rb};"]
        step = "1" if group == 1 else f"n{k}"
        if group > 1:
            out.append(f"{inner}int32_t n{k} = {group};")
        body = inner
        if consumer.pad_top or consumer.pad_bottom:
            out += [f"{inner}if (d{k} < {consumer.pad_top} || d{k} >= {consumer.pad_top + st[k].out_rows}) {{",
                    f"{inner}    mbmicro_fused_fill(dst{k}, {_zp(g, consumer.chain_input)}, {rb});",
                    *([f"{inner}    n{k} = 1;"] if group > 1 else []),
                    f"{inner}}} else {{"]
            body = inner + "    "
        out.append(f"{body}const int32_t r{k} = d{k} - {consumer.pad_top};")
        out += pull(k, f"r{k}", body)
        out += [body + c for c in stage_call(k, f"r{k}", f"dst{k}")]
        if consumer.pad_top or consumer.pad_bottom:
            out.append(f"{inner}}}")
        if mirror or group > 1:
            out.append(f"{inner}mbmicro_fused_ring_fix(ring{k}, slot{k}, {step}, {rows}, {mirror}, {rb});")
        out += [f"{inner}d{k} += {step};", f"{ind}}}"]
        return out

    ind = "            "
    lines += pull(L - 1, "o", ind)
    lines += [ind + c for c in stage_call(L - 1, "o", f"{y} + o * {st[-1].out_row_bytes}")]
    lines += ["        }", "    }"]
    return lines
