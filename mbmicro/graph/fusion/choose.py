"""Which regions each ``build --memory`` mode fuses: where the arena peaks, within the cost budget."""

from __future__ import annotations

from mbmicro.graph.ir import Graph
from mbmicro.graph.fusion.cost import CostModel, cost_model, model_work_insns, region_extra_insns
from mbmicro.graph.fusion.inplace import inplace_candidates
from mbmicro.graph.fusion.regions import candidate_regions
from mbmicro.graph.fusion.stages import Region, align

#: Memory modes of ``build --memory``.
MEMORY_MODES = ("min", "balanced", "inplace", "fast")
DEFAULT_MEMORY_MODE = "balanced"

#: Balanced mode fuses regions only while the estimated extra instructions of all fused
#: regions stay within this share of the model's work (docs/MEMORY.md: per region, the DSP
#: depthwise's re-widened window rows alone cost more than 5% on the M4 with int8 rings; its
#: wide rings bring MobileNetV2's balanced regions to +1.7% and +3.9%).
BALANCED_OVERHEAD = 0.05


def add_inplace(graph: Graph, chosen: list[Region], budget: float | None,
                io_in_arena: bool = False, cost: str | CostModel | None = None) -> list[Region]:
    """``chosen`` plus in-place depthwise layers outside it, one at a time while the arena's peak
    step is such a layer and the in-place one lowers the peak (and the estimated extra
    instructions of all regions stay within ``budget``; None: no limit): :func:`greedy_regions`
    over the in-place candidates, starting from ``chosen``."""
    covered = {i for r in chosen for i in range(r.start, r.end + 1)}
    candidates = [r for r in inplace_candidates(graph) if r.start not in covered]
    return greedy_regions(graph, candidates, budget, io_in_arena, chosen, cost)


def _peak_step(graph: Graph, regions: list[Region], io_in_arena: bool = False) -> tuple[int, int]:
    """(peak bytes, step at the peak) of the arena under ``regions`` (the planner's lifetimes, unaligned)."""
    from mbmicro.graph.liveness import arena_buffers

    inplace = {"add": (0, 1), "mul": (0,), "lut": (0,), "act": (0,)}
    _, spans = arena_buffers(graph, inplace, io_in_arena, regions)
    live = [0] * (len(graph.nodes) + 1)
    for root, (a, b) in spans.items():
        for step in range(a, b + 1):
            live[step] += align(graph.tensors[root].size)
    for r in regions:
        live[r.start] += r.scratch_bytes
    peak = max(live)
    return peak, live.index(peak)


def greedy_regions(graph: Graph, candidates: list[Region], budget: float | None,
                   io_in_arena: bool = False, chosen: list[Region] = (),
                   cost: str | CostModel | None = None) -> list[Region]:
    """Fuse where memory is decided: while the arena's peak step lies in a candidate region
    and fusing it lowers the peak, fuse it (one row per call) -- as long as the estimated extra
    instructions of the fused regions (``chosen``, already fused, included) stay within
    ``budget`` (None: no limit), estimated on the kernel family ``cost`` (fusion.cost)."""
    chosen = list(chosen)
    spent = sum(region_extra_insns(r, cost) for r in chosen)
    while True:
        peak, step = _peak_step(graph, chosen, io_in_arena)
        hit = [r for r in candidates if r.start <= step <= r.end and r.start not in {c.start for c in chosen}]
        if not hit:
            return chosen
        region = hit[0]
        trial = sorted(chosen + [region], key=lambda r: r.start)
        extra = region_extra_insns(region, cost)
        if (budget is not None and spent + extra > budget) or _peak_step(graph, trial, io_in_arena)[0] >= peak:
            return chosen
        chosen, spent = trial, spent + extra


def find_regions(graph: Graph, mode: str, io_in_arena: bool = False,
                 cost: str | CostModel | None = None) -> list[Region]:
    """The regions ``build --memory mode`` fuses: none (fast); inplace: only in-place depthwise
    layers (:func:`add_inplace`, no instruction limit); balanced: :func:`greedy_regions`
    within BALANCED_OVERHEAD of the model's estimated instructions (codegen/fused.py then gives
    them more rows per call where the planned arena allows), then in-place depthwise layers
    within the same limit; min: every candidate or the unlimited greedy choice, each with
    in-place depthwise layers added, whichever peaks lower, one row per call.
    ``io_in_arena``: the peaks compared count the input and output (``--io-in-arena``);
    ``cost``: the kernel family whose cost model balanced mode budgets with (fusion.cost.family_of
    of the target's features; None: the Cortex-M4 DSP family), whose balanced regions get wide
    rings where it has them (fusion.stages.wide_rings: "dsp")."""
    if mode not in MEMORY_MODES:
        raise ValueError(f"unknown memory mode {mode!r}")
    if mode == "fast":
        return []
    if mode == "inplace":
        return add_inplace(graph, [], None, io_in_arena)
    regions = candidate_regions(graph)
    if mode == "balanced":  # wide rings on the DSP family (cheaper regions; min keeps int8 rings)
        budget = BALANCED_OVERHEAD * model_work_insns(graph, cost)
        wide = candidate_regions(graph, cost_model(cost).family)
        chosen = greedy_regions(graph, wide, budget, io_in_arena, cost=cost)
        return add_inplace(graph, chosen, budget, io_in_arena, cost)
    options = [add_inplace(graph, rs, None, io_in_arena)
               for rs in (regions, greedy_regions(graph, regions, None, io_in_arena))]
    return min(options, key=lambda rs: (_peak_step(graph, rs, io_in_arena)[0], -len(rs)))
