"""Static memory planning of the activation arena.

Why TFLite Micro's interface (add a buffer with its size and first/last use,
ask its offset, ask the peak): it keeps the algorithm swappable, so the
trivial :class:`LinearPlanner` sits beside the greedy one and the tests
compare them on every model.

Graph side (:func:`plan_graph`):

* step ``i`` is node ``i``; a tensor lives from the step that produces it to
  the step of its last consumer, both inclusive (an input dies *after* the
  node that reads it last, so it never overlaps that node's output).
* the graph input and output are the caller's buffers and not in the arena;
  the caller keeps the input alive for the whole run, so a residual branch may
  read it late at no cost.  With ``io_in_arena`` (``build --io-in-arena``)
  they are arena buffers like the others (mbmicro.graph.liveness): the
  input's bytes are reused once its last reader has run.
* in-place reuse where it is exact: ``add`` (either operand of equal size),
  SE ``mul`` (its ``x``) and ``lut`` write over an operand whose last use is
  that node.  Kernels guarantee these ops are safe element-wise in place.
  Aliased tensors form one buffer whose lifetime is the union of theirs.
* a kernel that asks for scratch gets a buffer that lives for its step only.
* a fused region (mbmicro.graph.fusion, ``build --memory``) is one step: its
  rings and boundary window are that step's scratch (one buffer, laid out by
  ``Region.scratch_layout``), its inner tensors are not in the arena.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mbmicro.graph.ir import Graph
from mbmicro.graph.liveness import arena_buffers

#: Every buffer starts on this boundary (SIMD loads on Cortex-M55/A53).
ALIGN = 16

#: Ops whose output may take the buffer of one of these inputs (by position).
INPLACE_INPUTS = {"add": (0, 1), "mul": (0,), "lut": (0,)}


def align(n: int, to: int = ALIGN) -> int:
    return -(-n // to) * to


@dataclass(frozen=True)
class _Buf:
    size: int
    first: int
    last: int

    def overlaps_in_time(self, other: "_Buf") -> bool:
        return self.first <= other.last and other.first <= self.last


class LinearPlanner:
    """Every buffer after the previous one: the baseline the greedy planner must beat."""

    def __init__(self) -> None:
        self._bufs: list[_Buf] = []
        self._offsets: list[int] | None = None

    def add_buffer(self, size: int, first: int, last: int) -> int:
        """Register a buffer of ``size`` bytes live in steps [first, last]; returns its id."""
        if size < 0 or first > last:
            raise ValueError(f"bad buffer: size {size}, lifetime [{first}, {last}]")
        self._bufs.append(_Buf(align(size), first, last))
        self._offsets = None
        return len(self._bufs) - 1

    def _place(self) -> list[int]:
        offsets, end = [], 0
        for b in self._bufs:
            offsets.append(end)
            end += b.size
        return offsets

    def offset(self, buf_id: int) -> int:
        if self._offsets is None:
            self._offsets = self._place()
        return self._offsets[buf_id]

    def bound(self) -> int:
        """The most (aligned) bytes live at one step: no placement peaks below it."""
        steps = {b.first for b in self._bufs}
        return max((sum(b.size for b in self._bufs if b.first <= s <= b.last) for s in steps), default=0)

    def peak(self) -> int:
        if not self._bufs:
            return 0
        return max(self.offset(i) + b.size for i, b in enumerate(self._bufs))


class GreedyPlanner(LinearPlanner):
    """Largest buffer first, each at the lowest offset that does not overlap a
    placed buffer whose lifetime overlaps its own (TFLM's GreedyMemoryPlanner).

    Size order alone is not optimal on the MBConv chain stem -> dw -> project
    -> expand (it puts the small project buffer above two large ones: 1.25x
    the lower bound on several Table A models), so the same first-fit pass is
    also run in a few other orders and the smallest peak wins.  Size order
    comes first and wins ties, so the result is never worse than TFLM's.  While
    the peak is above the liveness bound, seeded random orders follow.
    """

    ORDERS = (
        lambda b: (-b.size, b.first),                          # TFLM: largest first
        lambda b: (b.first, -b.size),                          # execution order
        lambda b: (-b.size * (b.last - b.first + 1), b.first),  # largest area first
        lambda b: (-(b.last - b.first), -b.size, b.first),     # longest-lived first
    )

    def _first_fit(self, order: list[int]) -> list[int]:
        offsets = [0] * len(self._bufs)
        placed: list[int] = []
        for i in order:
            b = self._bufs[i]
            busy = sorted((offsets[j], offsets[j] + self._bufs[j].size)
                          for j in placed if self._bufs[j].overlaps_in_time(b))
            candidate = 0
            for lo, hi in busy:
                if candidate + b.size <= lo:
                    break
                candidate = max(candidate, hi)
            offsets[i] = candidate
            placed.append(i)
        return offsets

    #: Seeded random first-fit orders tried after ORDERS while the peak is above the bound.
    RANDOM_ORDERS = 2000

    def _peak_of(self, offsets: list[int]) -> int:
        return max((o + b.size for o, b in zip(offsets, self._bufs)), default=0)

    def _place(self) -> list[int]:
        best, best_peak = None, None
        for key in self.ORDERS:
            order = sorted(range(len(self._bufs)), key=lambda i: (key(self._bufs[i]), i))
            offsets = self._first_fit(order)
            peak = self._peak_of(offsets)
            if best_peak is None or peak < best_peak:
                best, best_peak = offsets, peak
        return self._random_restarts(best, best_peak)

    def _random_restarts(self, best: list[int], best_peak: int) -> list[int]:
        """First fit in seeded random orders until one reaches the bound (or RANDOM_ORDERS).

        Why: fused regions make lifetimes short and sizes uneven, and there no fixed order
        reaches the bound (MobileNetV2 0.35/96 balanced: 32,256 B against 29,952 B; MnasNet-B1
        36,864 against 32,256), while a few hundred random orders do.  Seeded, so a build is
        deterministic; it stops at the bound, so a plan the fixed orders solve costs nothing."""
        import random

        bound = self.bound()
        rng = random.Random(0)
        order = list(range(len(self._bufs)))
        for _ in range(self.RANDOM_ORDERS if best_peak > bound else 0):
            rng.shuffle(order)
            offsets = self._first_fit(order)
            peak = self._peak_of(offsets)
            if peak < best_peak:
                best, best_peak = offsets, peak
                if peak <= bound:
                    break
        return best


class SizeGreedyPlanner(GreedyPlanner):
    """TFLM's greedy-by-size only (for comparison in tests and reports)."""

    ORDERS = GreedyPlanner.ORDERS[:1]
    RANDOM_ORDERS = 0


@dataclass
class MemoryPlan:
    """Where every arena tensor lives, and how good the placement is."""

    offsets: dict[str, int]          # tensor -> byte offset in the arena
    sizes: dict[str, int]            # tensor -> nbytes (unaligned)
    lifetimes: dict[str, tuple[int, int]]  # buffer root tensor -> (first, last)
    alias: dict[str, str]            # tensor -> root tensor of its buffer
    scratch: dict[int, tuple[int, int]] = field(default_factory=dict)  # step -> (offset, bytes)
    peak: int = 0
    lower_bound: int = 0
    io_in_arena: bool = False        # the graph input and output are among ``offsets``
    regions: list = field(default_factory=list)  # fused regions (mbmicro.graph.fusion.Region)

    @property
    def ratio(self) -> float:
        return self.peak / self.lower_bound if self.lower_bound else 1.0

    def live_at(self, step: int) -> list[str]:
        """Buffer roots live at ``step``."""
        return [t for t, (a, b) in self.lifetimes.items() if a <= step <= b]


def plan_graph(graph: Graph, planner_cls=GreedyPlanner,
               scratch: dict[int, int] | None = None, io_in_arena: bool = False, regions=()) -> MemoryPlan:
    """Plan the arena of ``graph``; ``scratch`` maps step -> bytes a kernel needs;
    ``io_in_arena`` places the graph input and output in the arena too; ``regions``
    are the fused regions (each one step, its rings that step's scratch)."""
    scratch = dict(scratch or {})
    for r in regions:
        scratch[r.start] = scratch.get(r.start, 0) + r.scratch_bytes
    scratch = {k: v for k, v in scratch.items() if v > 0}
    root, lifetimes = arena_buffers(graph, INPLACE_INPUTS, io_in_arena, regions)
    sizes = {t: graph.tensors[t].nbytes for t in root}

    planner = planner_cls()
    ids = {r: planner.add_buffer(sizes[r], *lifetimes[r]) for r in lifetimes}
    scratch_ids = {s: planner.add_buffer(n, s, s) for s, n in sorted(scratch.items())}
    offsets = {t: planner.offset(ids[root[t]]) for t in sizes}

    return MemoryPlan(
        offsets=offsets,
        sizes=sizes,
        lifetimes=lifetimes,
        alias={t: root[t] for t in sizes},
        scratch={s: (planner.offset(i), scratch[s]) for s, i in scratch_ids.items()},
        peak=planner.peak(),
        lower_bound=planner.bound(),
        io_in_arena=io_in_arena,
        regions=list(regions),
    )


def dump(plan: MemoryPlan, steps: int, width: int = 64) -> str:
    """ASCII picture of the plan: one row per step, one column per arena slice.

    Each live buffer is drawn with its own letter (cycling a-z, A-Z), so
    overlapping letters would show a planning bug at a glance.
    """
    if plan.peak == 0:
        return "(empty arena)"
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    roots = sorted(plan.lifetimes, key=lambda r: (plan.lifetimes[r][0], r))
    mark = {r: letters[i % len(letters)] for i, r in enumerate(roots)}
    per_col = plan.peak / width
    rows = []
    for step in range(steps):
        row = ["."] * width
        spans = [(plan.offsets[r], plan.sizes[r], mark[r]) for r in plan.live_at(step)]
        if step in plan.scratch:
            spans.append((*plan.scratch[step], "*"))
        for off, size, ch in spans:
            lo = int(off / per_col)
            hi = max(lo + 1, int(-(-(off + size) // per_col)))
            for c in range(lo, min(hi, width)):
                row[c] = ch
        rows.append(f"{step:4d} |{''.join(row)}|")
    return "\n".join(rows)
