"""What a model will cost, from its layer shapes alone, before anything is built.

Why: building the float graph, quantizing it and lowering every kernel takes
minutes and gigabytes for a large model, and only then did ``build`` find out
that it cannot fit the board (or the machine ran out of memory first).  The
shapes come from the builder's own walk with placeholder weights
(:func:`mbmicro.models.builder.structure_from_config`: the same channel and
shape rules, no weights, a few milliseconds), so they cannot drift from the
graph that is built later.

Every number here is a *lower bound* of what the real build needs, so a
refusal based on it is never wrong; a model that passes is still checked
exactly after it is built (mbmicro.targets.budgets, codegen/project.py):

* weights: the int8 weights, int32 bias and int32 multiplier of every
  weighted layer (random data, so the weight table's de-duplication of equal
  arrays cannot merge them), one int32 shift array per distinct channel
  count (shifts often repeat, so equal ones may be stored once), and one
  256-byte LUT if the model has any non-fused activation.  Kernel layouts
  only ever pad weights, never drop any.
* arena: the largest set of activation tensors live at one step, with the
  memory planner's rules (codegen/planner.py): a tensor lives from the step
  producing it to its last reader, the graph input and output are the
  caller's buffers, and add / SE mul / LUT write over an operand of the same
  size that dies there.  No alignment padding is counted (the planner's
  padding only adds).
* memory to build: the float32 parameters plus the activations the builder
  (its BatchNorm-folding batch) or the quantizer (every tensor of its first
  calibration batch, kept to take ranges) must hold at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mbmicro.errors import UserError
from mbmicro.graph.ir import Graph, runs_dense
from mbmicro.graph.fusion import find_regions
from mbmicro.graph.liveness import arena_buffers
from mbmicro.models.builder import calibration_images, structure_from_config
from mbmicro.models.options import ModelConfig

#: Ops with a weight array, one output channel per bias entry.
WEIGHTED_OPS = ("conv2d", "depthwise", "fully_connected")
#: Ops whose int8 kernel may write over the operand at these positions (the
#: float graph's ``act`` becomes the int8 graph's ``lut``): planner.INPLACE_INPUTS.
INPLACE_INPUTS = {"add": (0, 1), "mul": (0,), "act": (0,)}
#: One int8 lookup table (quant/lut.py).
LUT_BYTES = 256
#: Float32 bytes per parameter or activation element while building.
FLOAT_BYTES = 4
#: The quantizer keeps every tensor of one batch of this many calibration
#: images (quant/ptq.py tensor_ranges); a user's file may hold only one.
QUANTIZE_BATCH = 4


@dataclass(frozen=True)
class Estimate:
    """Lower bounds (bytes) of what building a model needs, and the counts they come from."""

    weights_bytes: int      # int8 build: constant arrays in flash
    arena_bytes: int        # int8 build: the planner's activation arena
    io_bytes: int           # int8 build: the caller's input and output buffers (exact)
    params: int             # float parameters (weights and biases)
    activation_elements: int  # elements of every tensor, the graph input included
    largest_output: int     # elements of the largest node output


def estimate(cfg: ModelConfig, io_in_arena: bool = False, memory: str = "fast", cost: str | None = None) -> Estimate:
    """The lower bounds for checked options ``cfg`` (milliseconds, no weights are made);
    ``io_in_arena``: the input and output are arena buffers (``build --io-in-arena``);
    ``memory``: the ``build --memory`` mode, whose fused regions (mbmicro.graph.fusion,
    the same ones the int8 build forms: topology and shapes only) change the lifetimes;
    ``cost``: the target's kernel family, which balanced mode budgets with (fusion.family_of)."""
    graph = structure_from_config(cfg)
    return Estimate(
        weights_bytes=weights_lower_bound(graph),
        arena_bytes=arena_lower_bound(graph, io_in_arena, find_regions(graph, memory, io_in_arena, cost)),
        io_bytes=0 if io_in_arena else graph.input.size + graph.output.size,
        params=sum(int(a.size) for n in graph.nodes for k, a in n.params.items() if k in ("weight", "bias")),
        activation_elements=sum(t.size for t in graph.tensors.values()),
        largest_output=max(graph.tensors[n.outputs[0]].size for n in graph.nodes),
    )


def _stored_copies(node) -> int:
    """How many times a node's int8 weights are stored: ``groups`` for a grouped 1x1 the build
    runs as a dense GEMM on block-diagonal weights (graph.ir.runs_dense), else once."""
    return int(node.attrs.get("groups", 1)) if runs_dense(node) else 1


def weights_lower_bound(graph: Graph) -> int:
    """Bytes of constant arrays the int8 build of (float or structure) ``graph`` stores at least."""
    total, shift_lengths, has_lut = 0, set(), False
    for node in graph.nodes:
        if node.op in WEIGHTED_OPS:
            channels = int(node.params["bias"].size)
            total += int(node.params["weight"].size) * _stored_copies(node) + 8 * channels  # int8 w; int32 bias, mult
            shift_lengths.add(channels)
        elif node.op == "act":
            has_lut = True
    return total + 4 * sum(shift_lengths) + (LUT_BYTES if has_lut else 0)


def _buffers(graph: Graph, io_in_arena: bool = False, regions=()
             ) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    """Arena buffers as the planner makes them: root tensor -> int8 bytes, and -> (first, last) step;
    a fused region's rings are one buffer of its step (unaligned bytes: a lower bound)."""
    _, spans = arena_buffers(graph, INPLACE_INPUTS, io_in_arena, regions)
    sizes = {r: graph.tensors[r].size for r in spans}  # int8: one byte per element
    for region in regions:
        key = f"<rings of region {region.start}>"
        sizes[key] = sum(n for _, n in region.scratch_layout())
        spans = {**spans, key: (region.start, region.start)}
    return sizes, spans


def arena_lower_bound(graph: Graph, io_in_arena: bool = False, regions=()) -> int:
    """Largest int8 bytes of arena buffers live at one step (<= the planner's peak)."""
    sizes, spans = _buffers(graph, io_in_arena, regions)
    delta = [0] * (len(graph.nodes) + 1)
    for r, (first, last) in spans.items():
        delta[first] += sizes[r]
        delta[last + 1] -= sizes[r]
    live = peak = 0
    for d in delta:
        live += d
        peak = max(peak, live)
    return peak


def build_memory_bytes(cfg: ModelConfig, est: Estimate, quantize: bool, calibration: object = None) -> int:
    """Lower bound of the memory the float build (and with ``quantize`` the int8 one) holds at once.

    The builder keeps every float32 parameter and, while folding, the largest
    node output for its whole BatchNorm batch; the quantizer keeps the float
    graph and every tensor of its first calibration batch (QUANTIZE_BATCH
    seeded images, or at least one image of a user's file).
    """
    params = FLOAT_BYTES * est.params
    fold = FLOAT_BYTES * calibration_images(cfg.resolution) * est.largest_output
    need = params + fold
    if quantize:
        batch = QUANTIZE_BATCH if calibration is None else 1
        need = max(need, params + FLOAT_BYTES * batch * est.activation_elements)
    return need


def available_memory() -> int | None:
    """Bytes of memory this process may use: physical RAM, or a smaller cgroup limit (None: unknown)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        limit = "max"
    return min(total, int(limit)) if limit.isdigit() else total


def check_memory(cfg: ModelConfig, quantize: bool, calibration: object = None,
                 available: int | None = None) -> Estimate | None:
    """Refuse (UserError, one line) options whose build cannot fit this machine's memory.

    ``available`` defaults to :func:`available_memory`; returns the estimate, or
    None for a model file (the estimate reads Table A; an imported graph is as
    large as its file, which the importer bounds).
    """
    if cfg.file is not None:
        return None
    est = estimate(cfg)
    have = available_memory() if available is None else available
    need = build_memory_bytes(cfg, est, quantize, calibration)
    if have is not None and need > have:
        raise UserError(
            f"{cfg.model} at width {cfg.width:g}, resolution {cfg.resolution}, {cfg.classes:,} classes needs "
            f"at least {_memory(need)} of memory to build ({est.params:,} float parameters, "
            f"{est.activation_elements:,} activation values per image) but this machine has {_memory(have)}: "
            f"try a smaller --width, --resolution or --classes")
    return est


def _memory(n: int) -> str:
    """Bytes for a message: GiB with one decimal from 10 GiB, else whole MiB (so need and have differ)."""
    return f"{n / 2**30:.1f} GiB" if n >= 10 * 2**30 else f"{n / 2**20:,.0f} MiB"
