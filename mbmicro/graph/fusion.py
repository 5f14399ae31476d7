"""Fused row regions: which chains of nodes run as one row pipeline, and what memory they need.

Why in graph/: the memory planner (codegen/planner.py), the C emitter
(codegen/fused.py) and the size estimate that refuses a build before any work
(models/estimate.py) must agree exactly on the regions and their ring
buffers, and the estimate may not import codegen (docs/LAYOUT.md).  Everything
here comes from shapes and topology alone, so it works on the float structure
graph (``act``) and on the int8 graph (``lut``) alike.

A *stage* produces output rows of one node from its input rows: a KHxKW conv
or depthwise reads a window of KH padded input rows per output row (stride
S), a 1x1 conv, a LUT and an add read one row.  A *region* is a chain of
consecutive nodes whose intermediate tensors have one consumer (the next
stage): those tensors never exist in full, only as ring buffers of padded rows
(docs/MEMORY.md).  The region is one step for the planner: its chain input
and side inputs (an add's residual) are arena tensors read in place, its
output is an arena tensor written row by row, its rings are that step's
scratch.

Schedule (the C emitter writes exactly this loop): for every output row ``o``
of the last stage, the rows every earlier stage must have produced are
computed backwards from ``o``; then stage 0, 1, ... each produce their missing
rows in order, and the last stage writes row ``o``.  :func:`ring_rows`
replays that schedule to size each ring: the most padded rows that must be
resident at once (``R``).  A consumer with a KH-row window gets ``KH - 1``
mirror slots after the ring (row ``p`` goes to slot ``p % R`` and, when that
is below ``KH - 1``, to ``R + p % R`` too), so any window is contiguous.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mbmicro.graph.ir import Graph, Node, macs

#: Memory modes of ``build --memory``.
MEMORY_MODES = ("min", "balanced", "fast")
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

    @property
    def window_rows(self) -> int:
        """Input rows one call reads: (group - 1) * stride + KH."""
        return (self.group - 1) * self.stride + self.kh


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

    @property
    def nodes(self) -> list[str]:
        return [s.node for s in self.stages]

    @property
    def sides(self) -> list[str]:
        return [s.side for s in self.stages if s.side is not None]

    def ring_bytes(self, k: int) -> int:
        rows, mirror = self.rings[k]
        return (rows + mirror) * self.stages[k].out_row_bytes

    def scratch_layout(self) -> list[tuple[int, int]]:
        """(offset, bytes) of each ring (stage order), then of the window scratch, RING_ALIGN'd."""
        out, at = [], 0
        for size in [self.ring_bytes(k) for k in range(len(self.rings))] + [self.window_scratch]:
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


def candidate_regions(graph: Graph) -> list[Region]:
    """Maximal chains of row stages (at least two nodes) whose inner tensors have one reader.

    A chain starts at any row-capable node; it grows while the next node in
    execution order reads the previous node's output, is the only reader of
    it, and that output is not the graph output.  A side input must come from
    before the chain (an add's residual).
    """
    consumers = graph.consumers()
    produced = {t: i for i, n in enumerate(graph.nodes) for t in n.outputs}
    regions, i, n = [], 0, len(graph.nodes)
    while i < n:
        node = graph.nodes[i]
        first = stage_of(graph, node, node.inputs[0]) if node.op != "add" else None
        if first is None:
            i += 1
            continue
        stages, j = [first], i + 1
        while j < n:
            prev = graph.nodes[j - 1].outputs[0]
            nxt = graph.nodes[j]
            if prev in graph.outputs or len(consumers[prev]) != 1 or consumers[prev][0] is not nxt:
                break
            st = stage_of(graph, nxt, prev)
            if st is None or (st.side is not None and produced.get(st.side, -1) >= i):
                break
            stages.append(st)
            j += 1
        if len(stages) >= 2:
            regions.append(_make_region(graph, i, stages))
        i = j
    return regions


def _make_region(graph: Graph, start: int, stages: list[Stage], group: int = 1) -> Region:
    """The region of ``stages`` with every stage producing ``group`` rows per call."""
    stages = [dataclasses.replace(st, group=group) for st in stages]
    end = start + len(stages) - 1
    internal = [graph.nodes[k].outputs[0] for k in range(start, end)]
    rings = ring_rows(stages)
    first = stages[0]
    rows = first.window_rows
    needs_window = rows > 1 and (first.pad_top or first.pad_bottom
                                 or (first.out_rows - first.group) * first.stride + rows > first.in_rows)
    region = Region(start, end, stages, first.chain_input, graph.nodes[end].outputs[0], internal, rings,
                    rows * first.in_row_bytes if needs_window else 0)
    region.inplace = (graph.tensors[region.input].shape == graph.tensors[region.output].shape
                      and _reads_ahead_only(stages))
    return region


def groups_for(stages: list[Stage]) -> list[int]:
    """Rows per call every stage's height allows: the common divisors up to MAX_GROUP."""
    return [g for g in range(1, MAX_GROUP + 1) if all(st.out_rows % g == 0 for st in stages)]


def _needs(stages: list[Stage], o: int) -> list[int]:
    """Padded rows of every inner tensor needed to produce the last stage's rows [o, o + group)
    (index k: stage k's output), as the C loop computes them: each stage's real rows rounded
    up to its group."""
    need = [0] * len(stages)
    real = o + stages[-1].group
    for k in range(len(stages) - 1, 0, -1):
        st = stages[k]
        padded = (real - 1) * st.stride + st.kh
        need[k - 1] = padded
        prev = stages[k - 1]
        real = min(-(-max(padded - st.pad_top, 0) // prev.group) * prev.group, prev.out_rows)
    return need


def advance(done: int, target: int, pad_top: int, rows: int, group: int) -> int:
    """Padded rows written after ``while (done < target)`` writes one padding row or ``group``
    real rows per turn (the C loop of codegen/fused.py)."""
    while done < target:
        done += 1 if done < pad_top or done >= pad_top + rows else group
    return done


def _real(stages: list[Stage], k: int, padded: int) -> int:
    """Real rows of stage k's output among its first ``padded`` padded rows (padding of stage k+1)."""
    return min(max(padded - stages[k + 1].pad_top, 0), stages[k].out_rows)


def ring_rows(stages: list[Stage]) -> list[tuple[int, int]]:
    """(R, M) per inner tensor: R padded rows resident at once under the schedule, M mirror rows
    (a consumer window or a producer group minus one)."""
    last = len(stages) - 1
    done = [0] * last
    worst = [1] * last
    for o in range(0, stages[-1].out_rows, stages[-1].group):
        need = _needs(stages, o)
        for k in range(last):
            consumer = stages[k + 1]
            done[k] = advance(done[k], need[k], consumer.pad_top, stages[k].out_rows, stages[k].group)
            if k + 1 < last:  # the consumer's real rows this iteration: [first, upto)
                after = advance(done[k + 1], need[k + 1], stages[k + 2].pad_top, consumer.out_rows, consumer.group)
                first, upto = _real(stages, k + 1, done[k + 1]), _real(stages, k + 1, after)
            else:
                first, upto = o, o + consumer.group
            if upto > first:
                worst[k] = max(worst[k], done[k] - first * consumer.stride, consumer.window_rows)
    mirrors = [max(stages[k + 1].window_rows, stages[k].group) - 1 for k in range(last)]
    return [(max(worst[k], mirrors[k] + 1), mirrors[k]) for k in range(last)]


def _reads_ahead_only(stages: list[Stage]) -> bool:
    """Whether writing output rows over the same chain-input rows is safe: once output rows
    [o, o + g) are written, the pipeline never reads chain-input rows below o + g again.  With
    stride 1 and equal heights everywhere, stage 0 has produced R rows by then and its next
    window starts at input row R - pad_top; an add reads its own rows (a residual equal to the
    chain input) just before writing them."""
    if any(s.stride != 1 for s in stages) or any(s.in_rows != stages[0].in_rows for s in stages):
        return False
    first, g = stages[0], stages[-1].group
    for o in range(0, stages[-1].out_rows - g, g):
        need = _needs(stages, o)
        padded = advance(0, need[0], stages[1].pad_top, first.out_rows, first.group)
        produced = _real(stages, 0, padded)
        if produced < first.out_rows and produced - first.pad_top < o + g:
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
        if s.kh > 1:
            extra += calls * (s.kh - s.stride) * s.in_row_bytes * REREAD_INSNS_PER_BYTE
        if k < len(region.rings):
            rows, mirror = region.rings[k]
            extra += (mirror + s.group) * -(-s.out_rows // rows) * s.out_row_bytes * COPY_INSNS_PER_BYTE
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
            live[step] += graph.tensors[root].size
    for r in regions:
        live[r.start] += r.scratch_bytes
    peak = max(live)
    return peak, live.index(peak)


def greedy_regions(graph: Graph, candidates: list[Region], budget: float | None,
                   io_in_arena: bool = False) -> list[Region]:
    """Fuse where memory is decided: while the arena's peak step lies in a candidate region
    and fusing it lowers the peak, fuse it (one row per call) -- as long as the estimated extra
    instructions of the fused regions stay within ``budget`` (None: no limit)."""
    chosen: list[Region] = []
    spent = 0.0
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


def widen_groups(graph: Graph, regions: list[Region], io_in_arena: bool = False) -> list[Region]:
    """Give each region the most rows per call that keeps the arena's peak where it is (larger
    rings, paid for by memory that is free anyway) and lowers its estimated instructions."""
    peak = _peak_step(graph, regions, io_in_arena)[0]
    out = list(regions)
    for i, region in enumerate(out):
        best = region
        for g in groups_for(region.stages)[1:]:
            trial = _make_region(graph, region.start, region.stages, g)
            if (region_extra_insns(trial) < region_extra_insns(best)
                    and _peak_step(graph, out[:i] + [trial] + out[i + 1:], io_in_arena)[0] <= peak):
                best = trial
        out[i] = best
    return out


def find_regions(graph: Graph, mode: str, io_in_arena: bool = False) -> list[Region]:
    """The regions ``build --memory mode`` fuses: none (fast); balanced: :func:`greedy_regions`
    within BALANCED_OVERHEAD of the model's estimated instructions, then :func:`widen_groups`;
    min: every candidate or the unlimited greedy choice, whichever peaks lower, one row per call.
    ``io_in_arena``: the peaks compared count the input and output (``--io-in-arena``)."""
    if mode not in MEMORY_MODES:
        raise ValueError(f"unknown memory mode {mode!r}")
    if mode == "fast":
        return []
    regions = candidate_regions(graph)
    if mode == "balanced":
        chosen = greedy_regions(graph, regions, BALANCED_OVERHEAD * model_work_insns(graph), io_in_arena)
        return widen_groups(graph, chosen, io_in_arena)
    options = [regions, greedy_regions(graph, regions, None, io_in_arena)]
    return min(options, key=lambda rs: (_peak_step(graph, rs, io_in_arena)[0], -len(rs)))
