"""Fused row regions: which chains of nodes run as one row pipeline, and what memory they need.

Why in graph/: the memory planner (codegen/planner.py), the C emitter
(codegen/fused.py) and the size estimate that refuses a build before any work
(models/estimate.py) must agree exactly on the regions and their ring
buffers, and the estimate may not import codegen (docs/LAYOUT.md).  Everything
here comes from shapes and topology alone, so it works on the float structure
graph (``act``) and on the int8 graph (``lut``) alike.

A *stage* produces output rows of one node from its input rows: a KHxKW conv
or depthwise reads a window of KH padded input rows per output row (stride
S), a 1x1 conv, a LUT and an add read one row; a mixed-kernel depthwise (MixConv: slice ->
depthwise per channel group -> concat, several nodes) reads its largest kernel's window, each
group its own centered sub-window of it.  A *region* is a chain of
consecutive nodes whose intermediate tensors have one consumer (the next
stage): those tensors never exist in full, only as ring buffers of padded rows
(docs/MEMORY.md).  The region is one step for the planner: its chain input
and side inputs (an add's residual) are arena tensors read in place, its
output is an arena tensor written row by row, its rings are that step's
scratch.

Schedule (the C emitter writes exactly this loop, :func:`schedule` replays it):
for every output row group of the last stage, the stage asks its input for the
padded rows of its window; the stage before produces the missing ones (a
padding row, or a group of real rows for which it first asks its own input),
and so on back to the chain input.  A ring therefore holds its consumer's
window plus a producer group's overshoot (``R``, :func:`ring_rows`), and
``M = max(window, group) - 1`` mirror slots after it: row ``p`` goes to slot
``p % R`` and also to ``R + p % R`` when that is below ``M`` (a group written
past ``R`` is copied back), so any window and any group is contiguous.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mbmicro.graph.ir import Graph, Node, macs

#: Memory modes of ``build --memory``.
MEMORY_MODES = ("min", "balanced", "inplace", "fast")
DEFAULT_MEMORY_MODE = "balanced"

#: Ops a stage can run on rows (``act`` is the float graph's ``lut``).
_ROW_OPS = ("conv2d", "depthwise", "lut", "act", "add")

#: Ring buffers and scratch start on this boundary (planner.ALIGN: SIMD loads).
RING_ALIGN = 16

#: Balanced mode's cost model (docs/MEMORY.md), calibrated on the Cortex-M4 (QEMU, MobileNetV2
#: 0.35/96, each stage's row kernel against its whole-tensor kernel): a row call costs about
#: ROW_CALL_INSNS more than its share of the whole-tensor call, a KH-row window re-reads
#: (KH - 1) rows per output row that the whole-tensor kernel reads once (the DSP depthwise
#: widens them to int16 again: ~3 instructions per byte), ring and window copies cost
#: COPY_INSNS_PER_BYTE, and the model's work is WORK_INSNS_PER_MAC per MAC (its measured mean).
ROW_CALL_INSNS = 150
REREAD_INSNS_PER_BYTE = 3.0
COPY_INSNS_PER_BYTE = 0.5
WORK_INSNS_PER_MAC = 1.7
#: Output pixels per tile of the pointwise kernels (M4 dspx default): a row of W pixels
#: computes ceil(W / PIXEL_TILE) tiles, the whole tensor ceil(H * W / PIXEL_TILE).
PIXEL_TILE = 4
#: Most output rows per kernel call balanced mode tries (docs/MEMORY.md: more rows per call
#: amortize a row kernel's fixed work, for larger rings).
MAX_GROUP = 8
#: Balanced mode fuses regions only while the estimated extra instructions of all fused
#: regions stay within this share of the model's work (docs/MEMORY.md: per region, the DSP
#: depthwise's re-widened window rows alone cost more than 5% on the M4).
BALANCED_OVERHEAD = 0.05


@dataclass(frozen=True)
class Stage:
    """One node of a region seen as rows: window KH, stride S, padding rows top/bottom."""

    node: str
    op: str
    kh: int
    stride: int
    pad_top: int
    pad_bottom: int
    in_rows: int        # real rows of the chain input
    out_rows: int       # real rows of the output
    in_row_bytes: int   # int8 bytes of one chain-input row (W * C)
    out_row_bytes: int  # int8 bytes of one output row
    chain_input: str    # tensor this stage reads rows of
    side: str | None = None  # an add's other operand (a full arena tensor)
    macs: int = 0       # of the whole node
    width: int = 1      # output pixels per row
    group: int = 1      # output rows per kernel call
    #: a mixed-kernel depthwise (op "mixed", node = its concat): per channel group
    #: (slice node, depthwise node, first row of its sub-window in the stage's window, its KH,
    #: its channels); the stage spans the nodes slice0, dw0, slice1, dw1, ..., concat
    parts: tuple = ()

    @property
    def window_rows(self) -> int:
        """Input rows one call reads: (group - 1) * stride + KH."""
        return (self.group - 1) * self.stride + self.kh

    @property
    def nodes(self) -> list[str]:
        """The graph nodes this stage runs, in execution order."""
        return [n for p in self.parts for n in p[:2]] + [self.node]

    @property
    def span(self) -> int:
        return 2 * len(self.parts) + 1

    def part_buffers(self) -> list[int]:
        """Bytes of a mixed stage's scratch: one sliced sub-window (shared by the groups, the
        largest), then each group's depthwise output rows (the concat row copy reads them)."""
        if not self.parts:
            return []
        width_in = self.in_row_bytes // sum(p[4] for p in self.parts)
        sliced = max(((self.group - 1) * self.stride + p[3]) * width_in * p[4] for p in self.parts)
        return [sliced] + [self.group * self.width * p[4] for p in self.parts]


@dataclass
class Region:
    """Consecutive nodes [start, end] run as one row pipeline."""

    start: int
    end: int
    stages: list[Stage]
    input: str                 # the chain input (full tensor)
    output: str                # the last stage's output (full tensor)
    internal: list[str]        # tensors that live only in rings
    rings: list[tuple[int, int]] = field(default_factory=list)  # per internal tensor: (R rows, mirror rows)
    window_scratch: int = 0    # bytes of the first stage's boundary window (0: none needed)
    inplace: bool = False      # the output may take the chain input's buffer (row o written after its reads)
    delay_rows: int = 0        # > 0: an in-place depthwise (one stage): output rows held before write-back

    @property
    def nodes(self) -> list[str]:
        return [n for s in self.stages for n in s.nodes]

    @property
    def sides(self) -> list[str]:
        return [s.side for s in self.stages if s.side is not None]

    def ring_bytes(self, k: int) -> int:
        rows, mirror = self.rings[k]
        return (rows + mirror) * self.stages[k].out_row_bytes

    def scratch_layout(self) -> list[tuple[int, int]]:
        """(offset, bytes) of each ring (stage order), then of the window scratch, then (in-place
        depthwise only) of the delay buffer, then of each mixed stage's part buffers (stage order,
        Stage.part_buffers), RING_ALIGN'd."""
        out, at = [], 0
        sizes = [self.ring_bytes(k) for k in range(len(self.rings))] + [self.window_scratch]
        if self.delay_rows:
            sizes.append(self.delay_rows * self.stages[0].out_row_bytes)
        for size in sizes + [n for st in self.stages for n in st.part_buffers()]:
            out.append((at, size))
            at += _align(size)
        return out

    @property
    def scratch_bytes(self) -> int:
        """Bytes of the region's step scratch (rings + window scratch)."""
        return sum(_align(n) for _, n in self.scratch_layout())


def _align(n: int) -> int:
    return -(-n // RING_ALIGN) * RING_ALIGN


def _hwc(graph: Graph, name: str) -> tuple[int, int, int]:
    shape = graph.tensors[name].shape
    return int(shape[1]), int(shape[2]), int(shape[3])


def stage_of(graph: Graph, node: Node, chain_input: str) -> Stage | None:
    """The row view of ``node`` reading rows of ``chain_input``, or None when it cannot run on rows."""
    if node.op not in _ROW_OPS or len(node.outputs) != 1:
        return None
    if any(len(graph.tensors[t].shape) != 4 for t in [*node.inputs, node.outputs[0]]):
        return None
    h_in, w_in, c_in = _hwc(graph, chain_input)
    h_out, w_out, c_out = _hwc(graph, node.outputs[0])
    side = None
    kh, stride, top, bottom = 1, 1, 0, 0
    if node.op in ("conv2d", "depthwise"):
        if node.inputs[0] != chain_input:
            return None
        kh = int(node.attrs["kernel"][0])
        stride = int(node.attrs.get("stride", 1))
        top, _, bottom, _ = (int(p) for p in node.attrs["pad"])
    elif node.op == "add":
        if chain_input not in node.inputs or len(node.inputs) != 2 or node.inputs[0] == node.inputs[1]:
            return None
        side = node.inputs[1] if node.inputs[0] == chain_input else node.inputs[0]
        if _hwc(graph, side)[:2] != (h_out, w_out):
            return None
    elif node.inputs[0] != chain_input:
        return None
    if (h_in + top + bottom - kh) // stride + 1 != h_out:
        return None
    return Stage(node.name, node.op, kh, stride, top, bottom, h_in, h_out, w_in * c_in, w_out * c_out,
                 chain_input, side, macs(graph, node), w_out)


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
    if len(graph.tensors[cat.outputs[0]].shape) != 4 or _hwc(graph, chain_input)[2] != begin:
        return None
    big = max((p for _, p in parts), key=lambda p: p.kh)
    if any(p.stride != big.stride or p.out_rows != big.out_rows for _, p in parts):
        return None
    offsets = [big.pad_top - p.pad_top for _, p in parts]
    if any(off < 0 or off + p.kh > big.kh for off, (_, p) in zip(offsets, parts)):
        return None
    h_in, w_in, c_in = _hwc(graph, chain_input)
    h_out, w_out, c_out = _hwc(graph, cat.outputs[0])
    if (h_out, c_out) != (big.out_rows, c_in):
        return None
    return Stage(cat.name, "mixed", big.kh, big.stride, big.pad_top, big.pad_bottom, h_in, h_out,
                 w_in * c_in, w_out * c_out, chain_input, None, sum(p.macs for _, p in parts), w_out,
                 parts=tuple((name, p.node, off, p.kh, p.out_row_bytes // p.width)
                             for off, (name, p) in zip(offsets, parts)))


def _stage_at(graph: Graph, index: int, chain_input: str, consumers: dict) -> Stage | None:
    """The stage starting at node ``index`` reading ``chain_input``: a mixed-kernel depthwise
    (several nodes) or one row node."""
    node = graph.nodes[index]
    if node.op == "slice":
        return mixed_stage(graph, index, chain_input, consumers)
    return stage_of(graph, node, chain_input)


def candidate_regions(graph: Graph) -> list[Region]:
    """Maximal chains of row stages (at least two nodes) whose inner tensors have one reader.

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
            regions.append(make_region(graph, i, stages))
        i = j
    return regions


def make_region(graph: Graph, start: int, stages: list[Stage], group: int = 1) -> Region:
    """The region of ``stages`` with every stage producing ``group`` rows per call."""
    stages = [dataclasses.replace(st, group=group) for st in stages]
    end = start + sum(st.span for st in stages) - 1
    internal = [graph.nodes[k].outputs[0] for k in range(start, end)]
    rings = ring_rows(stages)
    first = stages[0]
    region = Region(start, end, stages, first.chain_input, graph.nodes[end].outputs[0], internal, rings,
                    _window_bytes(first))
    region.inplace = (graph.tensors[region.input].shape == graph.tensors[region.output].shape
                      and _reads_ahead_only(stages))
    return region


def _window_bytes(first: Stage) -> int:
    """Bytes of the first stage's boundary window scratch (0 when every window lies in the input)."""
    rows = first.window_rows
    needs_window = rows > 1 and (first.pad_top or first.pad_bottom
                                 or (first.out_rows - first.group) * first.stride + rows > first.in_rows)
    return rows * first.in_row_bytes if needs_window else 0


def inplace_flushed(stage: Stage, o: int) -> int:
    """In-place depthwise: how many output rows may be written back once output row ``o`` is
    computed -- those whose bytes lie below every input byte a later output row still reads
    (output row q spans bytes [q, q + 1) * out_row_bytes of the shared buffer; row o + 1 reads
    from real input row (o + 1) * stride - pad_top on).  codegen/inplace_dw.py emits this."""
    if o + 1 >= stage.out_rows:
        return stage.out_rows
    first = max((o + 1) * stage.stride - stage.pad_top, 0)
    return min(o + 1, first * stage.in_row_bytes // stage.out_row_bytes)


def inplace_schedule(stage: Stage):
    """Events of an in-place depthwise: ``("read", o, first, last)`` (output row o reads real input
    rows first .. last, into delay slot o % delay), then ``("flush", q)`` for each output row q
    written back over the input.  tests/test_fusion.py replays it on bytes."""
    done = 0
    for o in range(stage.out_rows):
        first = o * stage.stride - stage.pad_top
        yield ("read", o, max(first, 0), min(first + stage.kh, stage.in_rows) - 1)
        for q in range(done, inplace_flushed(stage, o)):
            yield ("flush", q)
        done = max(done, inplace_flushed(stage, o))


def inplace_delay(stage: Stage) -> int:
    """Delay-buffer rows of an in-place depthwise: the most output rows computed and not yet written back."""
    most = done = 0
    for o in range(stage.out_rows):
        most = max(most, o + 1 - done)
        done = inplace_flushed(stage, o)
    return max(most, 1)


def inplace_candidates(graph: Graph) -> list[Region]:
    """One-stage regions: each KHxKW depthwise (KH > 1) written over its own input through a delay
    buffer of :func:`inplace_delay` rows (TinyEngine's in-place depthwise, docs/MEMORY.md)."""
    out = []
    for i, node in enumerate(graph.nodes):
        if node.op != "depthwise" or int(node.attrs["kernel"][0]) < 2:
            continue
        st = stage_of(graph, node, node.inputs[0])
        if st is None or st.in_row_bytes < st.out_row_bytes:
            continue
        out.append(Region(i, i, [st], st.chain_input, node.outputs[0], [], [], _window_bytes(st),
                          inplace=True, delay_rows=inplace_delay(st)))
    return out


def add_inplace(graph: Graph, chosen: list[Region], budget: float | None,
                io_in_arena: bool = False) -> list[Region]:
    """``chosen`` plus in-place depthwise layers outside it, one at a time while the arena's peak
    step is such a layer and the in-place one lowers the peak (and the estimated extra
    instructions of all regions stay within ``budget``; None: no limit): :func:`greedy_regions`
    over the in-place candidates, starting from ``chosen``."""
    covered = {i for r in chosen for i in range(r.start, r.end + 1)}
    candidates = [r for r in inplace_candidates(graph) if r.start not in covered]
    return greedy_regions(graph, candidates, budget, io_in_arena, chosen)


def groups_for(stages: list[Stage]) -> list[int]:
    """Rows per call every stage's height allows: the common divisors up to MAX_GROUP."""
    return [g for g in range(1, MAX_GROUP + 1) if all(st.out_rows % g == 0 for st in stages)]


def schedule(stages: list[Stage]):
    """The events of the region's demand-driven loop, in the order the C runs them:
    ``("write", k, p, n)``: stage k writes padded rows p .. p+n-1 of its output ring (a padding
    row when n rows are not real); ``("read", k, first, rows)``: stage k reads padded rows
    first .. first+rows-1 of its input (the chain input for k = 0); ``("out", o, n)``: the last
    stage writes output rows o .. o+n-1 (its add reads the residual's same rows first).

    For each output group the last stage pulls the rows it needs from stage L-2, which pulls
    from L-3 for each of its groups, and so on (codegen/fused.py emits the same nested loops).
    """
    last = len(stages) - 1
    done = [0] * last

    def produce(k: int, target: int):
        consumer = stages[k + 1]
        while done[k] < target:
            p = done[k]
            if p < consumer.pad_top or p >= consumer.pad_top + stages[k].out_rows:
                yield ("write", k, p, 1)
                done[k] += 1
                continue
            yield from call(k, p - consumer.pad_top)
            yield ("write", k, p, stages[k].group)
            done[k] += stages[k].group

    def call(k: int, r: int):
        st = stages[k]
        first = r * st.stride
        if k > 0:
            yield from produce(k - 1, first + st.window_rows)
        yield ("read", k, first, st.window_rows)

    for o in range(0, stages[-1].out_rows, stages[-1].group):
        yield from call(last, o)
        yield ("out", o, stages[-1].group)


def ring_rows(stages: list[Stage]) -> list[tuple[int, int]]:
    """(R, M) per inner tensor: the consumer's window plus a producer group's overshoot (the most
    padded rows resident at once under :func:`schedule`), and M mirror rows (a consumer window
    or a producer group, minus one) so that any window or group is contiguous."""
    out = []
    for k in range(len(stages) - 1):
        window, group = stages[k + 1].window_rows, stages[k].group
        mirror = max(window, group) - 1
        out.append((max(window + group - 1, mirror + 1), mirror))
    return out


def _reads_ahead_only(stages: list[Stage]) -> bool:
    """Whether the output may be written over the chain input: no chain-input row is read
    after the output row at the same position has been written (the add reads its residual
    rows just before writing them, element by element in place)."""
    if any(s.stride != 1 for s in stages) or any(s.in_rows != stages[0].in_rows for s in stages):
        return False
    written, top = 0, stages[0].pad_top
    for event in schedule(stages):
        if event[0] == "out":
            written = event[1] + event[2]
        elif event[0] == "read" and event[1] == 0:
            first_real = max(event[2] - top, 0)
            if first_real < written and first_real < stages[0].in_rows:
                return False
    return True


def region_extra_insns(region: Region) -> float:
    """Estimated instructions the row pipeline of ``region`` adds over its unfused layers."""
    extra = 0.0
    for k, s in enumerate(region.stages):
        calls = s.out_rows // s.group
        extra += calls * ROW_CALL_INSNS
        if s.op == "conv2d" and s.kh == 1:  # pixel tiles of PIXEL_TILE: a call's last tile overlaps
            pixels = s.out_rows * s.width
            tiled = calls * -(-(s.group * s.width) // PIXEL_TILE) * PIXEL_TILE
            whole = -(-pixels // PIXEL_TILE) * PIXEL_TILE
            extra += (tiled - whole) / pixels * s.macs * WORK_INSNS_PER_MAC
        if s.parts:  # per group: a slice and a depthwise call, its sub-window re-read; the concat copy
            width_in = s.in_row_bytes // sum(p[4] for p in s.parts)
            for _, _, _, kh, ch in s.parts:
                extra += calls * (2 * ROW_CALL_INSNS + (kh - s.stride) * width_in * ch * REREAD_INSNS_PER_BYTE
                                  + s.window_rows * width_in * ch * COPY_INSNS_PER_BYTE)
            extra += s.out_rows * s.out_row_bytes * COPY_INSNS_PER_BYTE
        elif s.kh > 1:
            extra += calls * (s.kh - s.stride) * s.in_row_bytes * REREAD_INSNS_PER_BYTE
        if k < len(region.rings):
            rows, mirror = region.rings[k]
            extra += (mirror + s.group) * -(-s.out_rows // rows) * s.out_row_bytes * COPY_INSNS_PER_BYTE
    if region.delay_rows:  # every output row is copied from the delay buffer
        extra += region.stages[0].out_rows * region.stages[0].out_row_bytes * COPY_INSNS_PER_BYTE
    return extra + 2 * region.window_scratch * COPY_INSNS_PER_BYTE


def region_work_insns(region: Region) -> float:
    return sum(s.macs for s in region.stages) * WORK_INSNS_PER_MAC


def model_work_insns(graph: Graph) -> float:
    return sum(macs(graph, n) for n in graph.nodes) * WORK_INSNS_PER_MAC


def _peak_step(graph: Graph, regions: list[Region], io_in_arena: bool = False) -> tuple[int, int]:
    """(peak bytes, step at the peak) of the arena under ``regions`` (the planner's lifetimes, unaligned)."""
    from mbmicro.graph.liveness import arena_buffers

    inplace = {"add": (0, 1), "mul": (0,), "lut": (0,), "act": (0,)}
    _, spans = arena_buffers(graph, inplace, io_in_arena, regions)
    live = [0] * (len(graph.nodes) + 1)
    for root, (a, b) in spans.items():
        for step in range(a, b + 1):
            live[step] += _align(graph.tensors[root].size)
    for r in regions:
        live[r.start] += r.scratch_bytes
    peak = max(live)
    return peak, live.index(peak)


def greedy_regions(graph: Graph, candidates: list[Region], budget: float | None,
                   io_in_arena: bool = False, chosen: list[Region] = ()) -> list[Region]:
    """Fuse where memory is decided: while the arena's peak step lies in a candidate region
    and fusing it lowers the peak, fuse it (one row per call) -- as long as the estimated extra
    instructions of the fused regions (``chosen``, already fused, included) stay within
    ``budget`` (None: no limit)."""
    chosen = list(chosen)
    spent = sum(region_extra_insns(r) for r in chosen)
    while True:
        peak, step = _peak_step(graph, chosen, io_in_arena)
        hit = [r for r in candidates if r.start <= step <= r.end and r.start not in {c.start for c in chosen}]
        if not hit:
            return chosen
        region = hit[0]
        trial = sorted(chosen + [region], key=lambda r: r.start)
        cost = region_extra_insns(region)
        if (budget is not None and spent + cost > budget) or _peak_step(graph, trial, io_in_arena)[0] >= peak:
            return chosen
        chosen, spent = trial, spent + cost


def find_regions(graph: Graph, mode: str, io_in_arena: bool = False) -> list[Region]:
    """The regions ``build --memory mode`` fuses: none (fast); inplace: only in-place depthwise
    layers (:func:`add_inplace`, no instruction limit); balanced: :func:`greedy_regions`
    within BALANCED_OVERHEAD of the model's estimated instructions (codegen/fused.py then gives
    them more rows per call where the planned arena allows), then in-place depthwise layers
    within the same limit; min: every candidate or the unlimited greedy choice, each with
    in-place depthwise layers added, whichever peaks lower, one row per call.
    ``io_in_arena``: the peaks compared count the input and output (``--io-in-arena``)."""
    if mode not in MEMORY_MODES:
        raise ValueError(f"unknown memory mode {mode!r}")
    if mode == "fast":
        return []
    if mode == "inplace":
        return add_inplace(graph, [], None, io_in_arena)
    regions = candidate_regions(graph)
    if mode == "balanced":
        budget = BALANCED_OVERHEAD * model_work_insns(graph)
        return add_inplace(graph, greedy_regions(graph, regions, budget, io_in_arena), budget, io_in_arena)
    options = [add_inplace(graph, rs, None, io_in_arena)
               for rs in (regions, greedy_regions(graph, regions, None, io_in_arena))]
    return min(options, key=lambda rs: (_peak_step(graph, rs, io_in_arena)[0], -len(rs)))
