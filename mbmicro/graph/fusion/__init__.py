"""Fused row regions: which chains of nodes run as one row pipeline, and what memory they need.

One module per job: ``stages`` (the row view of a node, Region and its scratch),
``mixed`` (MixNet's mixed-kernel depthwise as one stage), ``regions`` (the candidate
chains), ``rows`` (the demand-driven schedule and ring sizes), ``inplace`` (in-place
depthwise), ``cost`` (the instruction estimate per core) and ``choose`` (which regions
each ``--memory`` mode fuses).  This package re-exports their public names.

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

The row schedule and the ring sizes are in ``rows`` (its docstring).
"""

from mbmicro.graph.fusion.choose import (BALANCED_OVERHEAD, DEFAULT_MEMORY_MODE, MEMORY_MODES, add_inplace,
                                         find_regions, greedy_regions)
from mbmicro.graph.fusion.cost import (COPY_INSNS_PER_BYTE, COST_MODELS, CostModel, cost_model, family_of, PIXEL_TILE, REREAD_INSNS_PER_BYTE, ROW_CALL_INSNS,
                                       WORK_INSNS_PER_MAC, model_work_insns, region_extra_insns, region_work_insns)
from mbmicro.graph.fusion.inplace import inplace_candidates, inplace_delay, inplace_flushed, inplace_schedule
from mbmicro.graph.fusion.mixed import mixed_stage
from mbmicro.graph.fusion.regions import candidate_regions
from mbmicro.graph.fusion.rows import MAX_GROUP, groups_for, ring_rows, schedule
from mbmicro.graph.fusion.stages import RING_ALIGN, Region, Stage, make_region, stage_of, wide_rings

__all__ = ["BALANCED_OVERHEAD", "COPY_INSNS_PER_BYTE", "COST_MODELS", "CostModel", "cost_model", "family_of", "DEFAULT_MEMORY_MODE", "MAX_GROUP", "MEMORY_MODES",
           "PIXEL_TILE", "REREAD_INSNS_PER_BYTE", "RING_ALIGN", "ROW_CALL_INSNS", "WORK_INSNS_PER_MAC", "Region",
           "Stage", "add_inplace", "candidate_regions", "find_regions", "greedy_regions", "groups_for",
           "inplace_candidates", "inplace_delay", "inplace_flushed", "inplace_schedule", "make_region",
           "mixed_stage", "model_work_insns", "region_extra_insns", "region_work_insns", "ring_rows", "schedule",
           "stage_of", "wide_rings"]
