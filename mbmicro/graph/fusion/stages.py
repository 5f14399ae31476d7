"""The row view of one node (Stage), a region of them (Region) and the region's scratch layout.

A *stage* produces output rows of one node from its input rows: a KHxKW conv or
depthwise reads a window of KH padded input rows per output row (stride S), a 1x1
conv, a LUT and an add read one row.  make_region sizes a region's rings
(rows.ring_rows) and decides whether its output may be written over its input.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mbmicro.graph.ir import Graph, Node, macs
from mbmicro.graph.fusion.rows import reads_ahead_only, ring_rows

#: Ops a stage can run on rows (``act`` is the float graph's ``lut``).
ROW_OPS = ("conv2d", "depthwise", "lut", "act", "add")

#: Ring buffers and scratch start on this boundary (planner.ALIGN: SIMD loads).
RING_ALIGN = 16


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
    #: per internal tensor: int16 values of one slot when its ring is *wide* (C * XW, the DSP
    #: channel kernel's band layout, rows widened once: docs/MEMORY.md "Wide rings"), 0 for int8 rows
    wide: tuple = ()

    def is_wide(self, k: int) -> bool:
        return k < len(self.wide) and self.wide[k] > 0

    @property
    def staging_bytes(self) -> int:
        """The int8 rows a wide ring's producer writes before they are widened into the ring
        (one buffer for all wide rings: a producer's rows are widened before any other stage runs)."""
        return max((self.stages[k].group * self.stages[k].out_row_bytes
                    for k in range(len(self.rings)) if self.is_wide(k)), default=0)

    @property
    def nodes(self) -> list[str]:
        return [n for s in self.stages for n in s.nodes]

    @property
    def sides(self) -> list[str]:
        return [s.side for s in self.stages if s.side is not None]

    def ring_bytes(self, k: int) -> int:
        rows, mirror = self.rings[k]
        if self.is_wide(k):  # R int16 slots, no mirror rows (the kernel takes slot addresses mod R)
            return rows * self.wide[k] * 2
        return (rows + mirror) * self.stages[k].out_row_bytes

    def scratch_layout(self) -> list[tuple[int, int]]:
        """(offset, bytes) of each ring (stage order), then of the window scratch, then (in-place
        depthwise only) of the delay buffer, then of each mixed stage's part buffers (stage order,
        Stage.part_buffers), then (wide rings only) of the staging rows, RING_ALIGN'd."""
        out, at = [], 0
        sizes = [self.ring_bytes(k) for k in range(len(self.rings))] + [self.window_scratch]
        if self.delay_rows:
            sizes.append(self.delay_rows * self.stages[0].out_row_bytes)
        tail = [self.staging_bytes] if self.staging_bytes else []
        for size in sizes + [n for st in self.stages for n in st.part_buffers()] + tail:
            out.append((at, size))
            at += align(size)
        return out

    @property
    def scratch_bytes(self) -> int:
        """Bytes of the region's step scratch (rings + window scratch)."""
        return sum(align(n) for _, n in self.scratch_layout())


def align(n: int) -> int:
    return -(-n // RING_ALIGN) * RING_ALIGN


def hwc(graph: Graph, name: str) -> tuple[int, int, int]:
    shape = graph.tensors[name].shape
    return int(shape[1]), int(shape[2]), int(shape[3])


def stage_of(graph: Graph, node: Node, chain_input: str) -> Stage | None:
    """The row view of ``node`` reading rows of ``chain_input``, or None when it cannot run on rows."""
    if node.op not in ROW_OPS or len(node.outputs) != 1:
        return None
    if any(len(graph.tensors[t].shape) != 4 for t in [*node.inputs, node.outputs[0]]):
        return None
    h_in, w_in, c_in = hwc(graph, chain_input)
    h_out, w_out, c_out = hwc(graph, node.outputs[0])
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
        if hwc(graph, side)[:2] != (h_out, w_out):
            return None
    elif node.inputs[0] != chain_input:
        return None
    if (h_in + top + bottom - kh) // stride + 1 != h_out:
        return None
    return Stage(node.name, node.op, kh, stride, top, bottom, h_in, h_out, w_in * c_in, w_out * c_out,
                 chain_input, side, macs(graph, node), w_out)


def make_region(graph: Graph, start: int, stages: list[Stage], group: int = 1,
                wide: frozenset | set | tuple = ()) -> Region:
    """The region of ``stages`` with every stage producing ``group`` rows per call; the rings
    whose index is in ``wide`` (:func:`wide_rings`) hold int16 rows, widened once each."""
    stages = [dataclasses.replace(st, group=group) for st in stages]
    end = start + sum(st.span for st in stages) - 1
    internal = [graph.nodes[k].outputs[0] for k in range(start, end)]
    widths = tuple(wide_slot(graph, stages[k + 1]) if k in wide else 0 for k in range(len(stages) - 1))
    rings = [(rows, 0 if widths[k] else mirror) for k, (rows, mirror) in enumerate(ring_rows(stages))]
    first = stages[0]
    region = Region(start, end, stages, first.chain_input, graph.nodes[end].outputs[0], internal, rings,
                    window_bytes(first), wide=widths)
    region.inplace = (graph.tensors[region.input].shape == graph.tensors[region.output].shape
                      and reads_ahead_only(stages))
    return region


def window_bytes(first: Stage) -> int:
    """Bytes of the first stage's boundary window scratch (0 when every window lies in the input)."""
    rows = first.window_rows
    needs_window = rows > 1 and (first.pad_top or first.pad_bottom
                                 or (first.out_rows - first.group) * first.stride + rows > first.in_rows)
    return rows * first.in_row_bytes if needs_window else 0




#: Largest square kernel of the DSP channel kernel (codegen/ops/depthwise_dsp.MAX_K is this one,
#: MBMICRO_DW_MAX_K in its header).
WIDE_MAX_K = 9


def band_cols(ow: int, k: int, s: int) -> int:
    """Columns of the DSP depthwise kernel's band, and so of a wide slot's channel plane (OW
    outputs at stride S read K taps rounded up to even); codegen/ops/depthwise_dsp uses this one."""
    return (ow - 1) * s + k + (k & 1)


def wide_slot(graph: Graph, consumer: Stage) -> int:
    """int16 values of one wide-ring slot feeding ``consumer`` (a depthwise): C * XW."""
    node = graph.node(consumer.node)
    c = int(graph.tensors[node.inputs[0]].shape[3])
    return c * band_cols(consumer.width, consumer.kh, consumer.stride)


def wide_rings(graph: Graph, stages: list[Stage], family: str | None) -> frozenset:
    """Indices of the rings that may be wide: only on the DSP kernel family ("dsp": M4/M7), the
    ring feeding a plain depthwise stage of a square K x K kernel, 1 < K <= WIDE_MAX_K, with two
    outputs per row or more (the channel kernel's domain from shapes; codegen/fused.py narrows a
    ring again whose node's constants rule the channel kernel out)."""
    if family != "dsp":
        return frozenset()
    out = set()
    for k in range(len(stages) - 1):
        st = stages[k + 1]
        if st.op != "depthwise" or st.parts or not 1 < st.kh <= WIDE_MAX_K or st.width < 2:
            continue
        kernel = graph.node(st.node).attrs["kernel"]
        if int(kernel[0]) == int(kernel[1]):
            out.add(k)
    return frozenset(out)
