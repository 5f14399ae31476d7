"""Balanced mode's estimate of the instructions a fused region adds over its unfused layers."""

from __future__ import annotations

from dataclasses import dataclass

from mbmicro.graph.ir import Graph, macs
from mbmicro.graph.fusion.stages import Region

#: Balanced mode's cost model (docs/MEMORY.md "Costs"), calibrated on the Cortex-M4 (QEMU,
#: MobileNetV2 0.35/96/10, benchmarks/memory.py --regions-only: each fused region against the same
#: layers of the fast build): a row call costs about ROW_CALL_INSNS more than its share of the
#: whole-tensor call, a KH-row window of an int8 ring re-reads (KH - S) rows per output row that
#: the whole-tensor kernel reads once (the DSP depthwise widens them to int16 again), ring and
#: window copies cost COPY_INSNS_PER_BYTE, and the model's work is WORK_INSNS_PER_MAC per MAC (its
#: measured mean).  Recalibrated with the wide rings: a least-squares fit (non-negative, relative
#: errors) of ROW_CALL, REREAD, COPY, WIDEN and CHANNEL_CALL to the 12 measured regions of
#: balanced (wide rings) and min (int8 rings), after the pixel-tile term was made per shape
#: (below; it alone was the s6 regions' 6-15x underestimate); rounded, every region's estimate is
#: within 0.67-1.25x of its measured extra.
ROW_CALL_INSNS = 160
REREAD_INSNS_PER_BYTE = 2.2
COPY_INSNS_PER_BYTE = 0.5
WORK_INSNS_PER_MAC = 1.7
#: A wide ring (docs/MEMORY.md "Wide rings") widens each produced row once, as the whole-tensor
#: band fill does: the fit finds no cost beyond that per int8 byte of the row (the staging write
#: replaces the whole-tensor producer's write of the same bytes).
WIDEN_INSNS_PER_BYTE = 0.0
#: The DSP depthwise runs channel by channel: per row call and channel it packs its tap pairs and
#: sets up again, which the whole-tensor kernel does once per channel.
CHANNEL_CALL_INSNS = 10.0
#: Output pixels per tile of the pointwise kernels (the M4 dspx default up to 32 input channels;
#: CostModel.tile_of for the rule above): a row of W pixels computes ceil(W / tile) tiles, the
#: whole tensor ceil(H * W / tile) (3-pixel rows of the 2-pixel tile recompute 3 of 12 pixels
#: against 1 of 10 whole: MobileNetV2's s6 regions).
PIXEL_TILE = 4


@dataclass(frozen=True)
class CostModel:
    """The constants of :func:`region_extra_insns` for one kernel family (its row kernels'
    fixed cost per call, re-read and copy cost per byte, mean work per MAC, pointwise pixel tiles).

    Why per family and not one set: the same region costs differently on the DSP kernels
    (M4/M7: the depthwise re-widens its window to int16), MVE (M55) and NEON (A53/A72), and
    balanced mode promises its 5% on the core it builds for."""

    family: str
    row_call: float = ROW_CALL_INSNS
    reread_per_byte: float = REREAD_INSNS_PER_BYTE
    copy_per_byte: float = COPY_INSNS_PER_BYTE
    work_per_mac: float = WORK_INSNS_PER_MAC
    pixel_tile: int = PIXEL_TILE
    #: a 1x1 reducing at least ``wide_from`` input channels tiles ``wide_tile`` pixels (0: no
    #: such rule): the kernels pick taller pixel tiles where few channels share the per-output work
    wide_from: int = 0
    wide_tile: int = PIXEL_TILE
    #: per int8 byte a wide ring widens (dsp only: the other families read int8 rings)
    widen_per_byte: float = WIDEN_INSNS_PER_BYTE
    #: per depthwise row call and channel (the DSP depthwise's channel-by-channel set-up)
    channel_call: float = CHANNEL_CALL_INSNS

    def tile_of(self, channels: int) -> int:
        """Output pixels per tile of a 1x1 conv reducing ``channels`` input channels."""
        return self.wide_tile if self.wide_from and channels >= self.wide_from else self.pixel_tile


#: Per kernel family (:func:`family_of`), fitted to the fused regions measured on its core
#: (QEMU, MobileNetV2 / MnasNet-A1 0.35/96/10, balanced and min, each region against its
#: unfused layers: ``benchmarks/memory.py --regions-only --target CORE --fit``; docs/MEMORY.md
#: "Costs"). dsp: the M4's constants above (refitted with the wide rings), and the DSP
#: pointwise's 2-pixel tile from 33 input channels (pointwise.dsp_defaults; the M7 measures
#: within a few percent of the M4). mve and neon were fitted without a per-channel term. mve: the
#: pointwise tail runs in calls of its own (no overlapping tile); its fit puts the per-call cost
#: into the re-read term. neon: the panel kernel's 4-pixel tile up to 24 channels, one pixel per
#: tile on short rows above (pointwise.neon_defaults). host: the dsp constants (not measured).
COST_MODELS = {"dsp": CostModel("dsp", wide_from=33, wide_tile=2),
               "mve": CostModel("mve", row_call=0.0, reread_per_byte=0.72, copy_per_byte=0.0,
                                work_per_mac=0.547, pixel_tile=1, channel_call=0.0),
               "neon": CostModel("neon", row_call=352.0, reread_per_byte=0.50, copy_per_byte=0.20,
                                 work_per_mac=0.455, pixel_tile=4, wide_from=25, wide_tile=1, channel_call=0.0),
               "host": CostModel("host")}
#: The family when the caller names none (the up-front estimate of a build without a target).
DEFAULT_FAMILY = "dsp"


def family_of(features) -> str:
    """Kernel family of a target's ``features`` (targets/*/target.json): mve, neon, dsp or host."""
    for name in ("mve", "neon", "dsp"):
        if name in features:
            return name
    return "host"


def cost_model(family: str | CostModel | None = None) -> CostModel:
    """The cost model of ``family`` (a CostModel passes through; None: DEFAULT_FAMILY)."""
    if isinstance(family, CostModel):
        return family
    return COST_MODELS[family or DEFAULT_FAMILY]


def region_extra_insns(region: Region, cost: str | CostModel | None = None) -> float:
    """Estimated instructions the row pipeline of ``region`` adds over its unfused layers
    (on the kernel family ``cost``: :func:`cost_model`)."""
    c = cost_model(cost)
    extra = 0.0
    for k, s in enumerate(region.stages):
        calls = s.out_rows // s.group
        extra += calls * c.row_call
        if s.op == "conv2d" and s.kh == 1:  # pixel tiles (c.tile_of): a call's last tile overlaps
            pixels, tile = s.out_rows * s.width, c.tile_of(s.in_row_bytes // (s.width * s.stride))
            tiled = calls * -(-(s.group * s.width) // tile) * tile
            whole = -(-pixels // tile) * tile
            extra += (tiled - whole) / pixels * s.macs * c.work_per_mac
        if s.parts:  # per group: a slice and a depthwise call, its sub-window re-read; the concat copy
            width_in = s.in_row_bytes // sum(p[4] for p in s.parts)
            for _, _, _, kh, ch in s.parts:
                extra += calls * (2 * c.row_call + (kh - s.stride) * width_in * ch * c.reread_per_byte
                                  + s.window_rows * width_in * ch * c.copy_per_byte)
            extra += s.out_rows * s.out_row_bytes * c.copy_per_byte
        elif s.kh > 1:
            if s.op == "depthwise":  # per call and channel, not once per channel
                extra += (calls - 1) * (s.out_row_bytes // s.width) * c.channel_call
            if k > 0 and region.is_wide(k - 1):  # each input row widened once, as the whole kernel does
                extra += s.in_rows * s.in_row_bytes * c.widen_per_byte
            else:
                extra += calls * (s.kh - s.stride) * s.in_row_bytes * c.reread_per_byte
        if k < len(region.rings) and not region.is_wide(k):  # a wide ring has no mirror copies
            rows, mirror = region.rings[k]
            extra += (mirror + s.group) * -(-s.out_rows // rows) * s.out_row_bytes * c.copy_per_byte
    if region.delay_rows:  # every output row is copied from the delay buffer
        extra += region.stages[0].out_rows * region.stages[0].out_row_bytes * c.copy_per_byte
    return extra + 2 * region.window_scratch * c.copy_per_byte


def region_work_insns(region: Region, cost: str | CostModel | None = None) -> float:
    return sum(s.macs for s in region.stages) * cost_model(cost).work_per_mac


def model_work_insns(graph: Graph, cost: str | CostModel | None = None) -> float:
    return sum(macs(graph, n) for n in graph.nodes) * cost_model(cost).work_per_mac
