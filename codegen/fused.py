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


def row_graph(graph: Graph, stage: Stage, ring_rows: int = 0) -> tuple[Graph, Node]:
    """A graph holding one row-shaped copy of the stage's node (same tensor names and qparams);
    ``ring_rows`` > 0: a depthwise reading a wide ring of that many slots (attribute
    ``ring_rows``: codegen/ops/depthwise.py lowers it on the ring kernel)."""
    node = graph.node(stage.node)
    rows = {stage.chain_input: stage.window_rows, node.outputs[0]: stage.group}
    if stage.side is not None:
        rows[stage.side] = stage.group
    return _row_copy(graph, node, rows, {"ring_rows": ring_rows} if ring_rows else {})


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


def _row_copy(graph: Graph, node: Node, rows: dict[str, int], extra: dict | None = None) -> tuple[Graph, Node]:
    """``node`` on tensors of ``rows[name]`` rows each (top/bottom padding dropped), ``extra``
    attributes added."""
    tensors = {}
    for name, n in rows.items():
        t = graph.tensors[name]
        tensors[name] = dataclasses.replace(t, shape=(1, n, int(t.shape[2]), int(t.shape[3])))
    attrs = {**node.attrs, **(extra or {})}
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
    regions = [narrow_rings(graph, r) for r in fusion.find_regions(graph, memory, io_in_arena, cost)]
    return widen_groups(graph, regions, io_in_arena, cost) if memory == "balanced" else regions


def wide_set(region: Region) -> frozenset:
    return frozenset(k for k in range(len(region.rings)) if region.is_wide(k))


def narrow_rings(graph: Graph, region: Region) -> Region:
    """``region`` with int8 rings again where a wide ring's depthwise cannot run the ring kernel
    (its constants rule out the channel kernel: depthwise_dsp.ring_applies; the graph's shapes
    alone, which fusion.wide_rings sees, do not say it)."""
    from mbmicro.codegen.ops.depthwise_dsp import ring_applies

    wide = wide_set(region)
    keep = frozenset(k for k in wide if ring_applies(graph, graph.node(region.stages[k + 1].node)))
    if keep == wide:
        return region
    return fusion.make_region(graph, region.start, region.stages, region.stages[0].group, keep)


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
            trial = fusion.make_region(graph, region.start, region.stages, g, wide_set(region))
            if fusion.region_extra_insns(trial, cost) >= fusion.region_extra_insns(out[i], cost):
                continue
            candidate = out[:i] + [trial] + out[i + 1:]
            if plan_graph(graph, io_in_arena=io_in_arena, regions=candidate).peak <= peak:
                out = candidate
    return out


def region_row_graphs(graph: Graph, region: Region) -> list[tuple[Stage, Graph, Node]]:
    """Every node of ``region`` in execution order with its stage and its row graph: what
    :func:`lower_region` lowers, and what ``mbmicro tune --memory`` tunes (mbmicro.tune.measure),
    from one definition so that the two see the same kernels.  A stage reading a wide ring
    gets the ring's slot count in its row graph (the ring depthwise kernel)."""
    out = []
    for k, stage in enumerate(region.stages):
        ring = region.rings[k - 1][0] if k and region.is_wide(k - 1) else 0
        rows = mixed_row_graphs(graph, stage) if stage.parts else [row_graph(graph, stage, ring)]
        out += [(stage, g, node) for g, node in rows]
    return out


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
        if region.is_wide(k):
            lines.append(f"        int16_t *const ring{k} = (int16_t *)(arena + {base + layout[k][0]});"
                         f" /* {g.node(st[k].node).outputs[0]}: {region.rings[k][0]} wide rows,"
                         f" {region.wide[k]} int16 each */")
            continue
        lines.append(f"        int8_t *const ring{k} = arena + {base + layout[k][0]};"
                     f" /* {g.node(st[k].node).outputs[0]}: {region.rings[k][0]} rows + {region.rings[k][1]} mirror,"
                     f" {st[k].out_row_bytes} B each */")
    if region.window_scratch:
        lines.append(f"        int8_t *const window = arena + {base + layout[L - 1][0]};")
    if region.staging_bytes:  # a wide ring's producer writes its int8 rows here first
        lines.append(f"        int8_t *const staging = arena + {base + layout[-1][0]};")
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
        if region.is_wide(k - 1):  # the ring kernel takes the ring and the window's first slot
            return f"ring{k - 1}"
        return f"ring{k - 1} + ((({row}) * {s.stride}) % {rows}) * {s.in_row_bytes}"

    def stage_call(k: int, row: str, dst: str) -> list[str]:
        s = st[k]
        node = g.node(s.node)
        if s.parts:
            return mixed_call(k, row, dst)
        pointers = {s.chain_input: source(k, row), node.outputs[0]: dst}
        if k and region.is_wide(k - 1):
            pointers["first"] = f"(({row}) * {s.stride}) % {region.rings[k - 1][0]}"
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
        if region.is_wide(k):
            return produce_wide(k, need, ind)
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

    def produce_wide(k: int, need: str, ind: str) -> list[str]:
        """A wide ring: padding rows filled with the zero point as int16, real rows by stage k's
        kernel into the staging rows, then each widened once into its slot (d_k + i) % R."""
        consumer, node = st[k + 1], g.node(st[k + 1].node)
        rows, n = region.rings[k][0], region.wide[k]
        zp, group = _zp(g, consumer.chain_input), st[k].group
        _, w, c = (int(v) for v in g.tensors[consumer.chain_input].shape[1:])
        xw, left = n // c, int(node.attrs["pad"][1])
        inner = ind + "    "
        body = inner + "    "
        out = [f"{ind}while (d{k} < {need}) {{"]
        out += [f"{inner}if (d{k} < {consumer.pad_top} || d{k} >= {consumer.pad_top + st[k].out_rows}) {{",
                f"{body}mbmicro_dw_widen_fill(ring{k} + (d{k} % {rows}) * {n}, {n}, {zp});",
                f"{body}d{k} += 1;",
                f"{inner}}} else {{",
                f"{body}const int32_t r{k} = d{k} - {consumer.pad_top};"]
        out += pull(k, f"r{k}", body)
        out += [body + c_ for c_ in stage_call(k, f"r{k}", "staging")]
        out += [f"{body}int32_t i{k};",
                f"{body}for (i{k} = 0; i{k} < {group}; ++i{k}) {{",
                f"{body}    mbmicro_dw_widen_row(ring{k} + ((d{k} + i{k}) % {rows}) * {n}, staging + i{k} * "
                f"{st[k].out_row_bytes}, {w}, {c}, {left}, {xw}, {zp});",
                f"{body}}}",
                f"{body}d{k} += {group};",
                f"{inner}}}",
                f"{ind}}}"]
        return out

    ind = "            "
    lines += pull(L - 1, "o", ind)
    lines += [ind + c for c in stage_call(L - 1, "o", f"{y} + o * {st[-1].out_row_bytes}")]
    lines += ["        }", "    }"]
    return lines
