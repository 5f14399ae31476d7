"""Fused row regions (build --memory, docs/MEMORY.md): bit-exact, planned without overlaps, and agreed on.

* random MBConv chains (stem, t=1 and t=6, k3/k5, stride 1/2, odd widths, residual
  adds, LUTs, partial residuals) built for the host with the real kernels in
  ``--memory min``: the C equals the int8 reference bit for bit, and the per-layer
  trace names each region by its last layer;
* the planner with regions: no two buffers live at one step overlap, rings included,
  on every Table A model; the up-front estimate agrees with the planner;
* the ring sizes come from a replay of the schedule that checks every window;
* MixNet-M's mixed-kernel depthwise (slice -> depthwise xN -> concat) is one row stage:
  every candidate region of MixNet-M 0.25/48 is bit-exact on the host, the M4 and the A53.
"""

from __future__ import annotations

import numpy as np
import pytest

from kernel_harness import random_act, random_int8, random_requant, tensor
from mbmicro.codegen.fused import widen_groups
from mbmicro.codegen.planner import ALIGN, plan_graph
from mbmicro.codegen.project import build_project
from mbmicro.graph import fusion
from mbmicro.graph.ir import Graph, Node, same_padding
from mbmicro.models.specs import MODEL_NAMES
from mbmicro.reference.arith import add_multipliers
from mbmicro.reference.int8 import run_int8
from mbmicro.sim.build_folder import load_build_folder
from mbmicro.sim.execute import run_build
from mbmicro.targets.target import load_target


class _Chain:
    """Builds a random int8 MBConv graph node by node."""

    def __init__(self, rng, h, w, c):
        self.rng, self.tensors, self.nodes = rng, {}, []
        self.cur = self._tensor("x", (1, h, w, c))

    def _tensor(self, name, shape):
        self.tensors[name] = tensor(name, shape, int(self.rng.integers(-20, 20)), float(self.rng.uniform(0.02, 0.1)))
        return name

    def _shape(self, name):
        return self.tensors[name].shape

    def conv(self, name, op, cout, k, stride):
        _, h, w, cin = self._shape(self.cur)
        top, bottom = same_padding(h, k, stride)
        left, right = same_padding(w, k, stride)
        oh, ow = -(-h // stride), -(-w // stride)
        c = cin if op == "depthwise" else cout
        out = self._tensor(name, (1, oh, ow, c))
        wshape = (k, k, c) if op == "depthwise" else (c, k, k, cin)
        m, s = random_requant(self.rng, c, 1e-3, 2e-2)
        lo, hi = random_act(self.rng, self.tensors[out].zero_point)
        attrs = {"kernel": (k, k), "stride": stride, "pad": (top, left, bottom, right), "act": "relu",
                 "act_min": lo, "act_max": hi}
        if op == "conv2d":
            attrs["groups"] = 1
        params = {"weight": random_int8(self.rng, wshape, -127, 127),
                  "bias": self.rng.integers(-2000, 2000, c).astype(np.int32), "multiplier": m, "shift": s}
        self.nodes.append(Node(name, op, [self.cur], [out], attrs, params))
        self.cur = out
        return out

    def lut(self, name):
        out = self._tensor(name, self._shape(self.cur))
        table = random_int8(self.rng, (256,))
        self.nodes.append(Node(name, "lut", [self.cur], [out], {"func": "swish"}, {"table": table}))
        self.cur = out

    def add(self, name, other):
        a, b = self.cur, other
        out = self._tensor(name, self._shape(a))
        m, s = add_multipliers(*(self.tensors[t].scale for t in (a, b, out)))
        self.nodes.append(Node(name, "add", [a, b], [out], {"act": "none", "act_min": -128, "act_max": 127},
                               {"multiplier": m, "shift": s}))
        self.cur = out

    def block(self, name, t, k, stride, cout, lut=False, residual=False):
        start = self.cur
        cin = self._shape(start)[3]
        if t > 1:
            self.conv(f"{name}.expand", "conv2d", cin * t, 1, 1)
            if lut:
                self.lut(f"{name}.expand.act")
        self.conv(f"{name}.dw", "depthwise", 0, k, stride)
        self.conv(f"{name}.project", "conv2d", cout, 1, 1)
        if residual:
            self.add(f"{name}.add", start)

    def mixed(self, name, kernels, stride):
        """MixConv as MixNet's builder writes it: slice -> depthwise per channel group -> concat;
        slices keep the input's qparams, the groups take the concat's."""
        x = self.cur
        _, h, w, c = self._shape(x)
        sizes = [c // len(kernels)] * len(kernels)
        sizes[0] += c - sum(sizes)
        cat = self._tensor(name, (1, -(-h // stride), -(-w // stride), c))
        outs, begin = [], 0
        for i, (k, size) in enumerate(zip(kernels, sizes)):
            part = f"{name}.g{i}.slice"
            self.tensors[part] = tensor(part, (1, h, w, size), self.tensors[x].zero_point, self.tensors[x].scale)
            self.nodes.append(Node(part, "slice", [x], [part], {"begin": begin, "end": begin + size}, {}))
            self.cur = part
            out = self.conv(f"{name}.g{i}", "depthwise", 0, k, stride)
            self.tensors[out] = tensor(out, self._shape(out), self.tensors[cat].zero_point, self.tensors[cat].scale)
            node = self.nodes[-1]
            node.attrs["act_min"], node.attrs["act_max"] = random_act(self.rng, self.tensors[cat].zero_point)
            outs.append(out)
            begin += size
        self.nodes.append(Node(name, "concat", outs, [cat], {}, {}))
        self.cur = cat

    def graph(self) -> Graph:
        g = Graph("fusion-test", self.tensors, self.nodes, ["x"], [self.cur])
        g.validate()
        return g


def random_mbconv_graph(seed: int) -> Graph:
    """Stem, a t=1 block, a stride-2 k5 block on an odd width, residual blocks with LUTs, a partial residual."""
    rng = np.random.default_rng(seed)
    h = int(rng.integers(33, 41))
    ch = _Chain(rng, h, h + int(rng.integers(0, 4)), 3)
    ch.conv("stem", "conv2d", 16, 3, 2)
    ch.block("b1", 1, 3, 1, 8)
    ch.block("b2", 6, 5, 2, 8)
    ch.block("b3", 6, 3, 1, 8, lut=True, residual=True)
    ch.block("b4", 3, 5, 1, 8, residual=True)
    ch.block("b5", 4, 3, 2, 12)
    wide = ch.cur
    ch.block("b6", 2, 3, 1, 16, lut=True)
    ch.add("b6.add", wide)  # ReXNet's partial residual: 12 of 16 channels
    return ch.graph()


def _grouped(graph, regions):
    """The regions with 2-3 rows per call where their heights allow (fused.widen_groups)."""
    out = []
    for r in regions:
        groups = [g for g in fusion.groups_for(r.stages) if 1 < g <= 3]
        out.append(fusion.make_region(graph, r.start, r.stages, groups[-1]) if groups else r)
    return out


@pytest.mark.parametrize("seed,grouped", [(0, False), (1, False), (2, True)])
def test_fused_regions_are_bit_exact_on_host(seed, grouped, tmp_path, monkeypatch, capsys):
    graph = random_mbconv_graph(seed)
    regions = fusion.find_regions(graph, "min")
    if grouped:  # several rows per kernel call: ring groups, fix-up copies, multi-row windows
        regions = _grouped(graph, regions)
        assert any(r.stages[0].group > 1 for r in regions)
        monkeypatch.setattr(fusion, "find_regions", lambda g, mode, io=False, cost=None: regions)
    assert regions and any(r.stages[0].node == "stem" for r in regions)
    fused_ops = {s.op for r in regions for s in r.stages}
    assert {"conv2d", "depthwise", "lut", "add"} <= fused_ops
    assert any(s.kh == 5 and s.stride == 2 for r in regions for s in r.stages)
    out = tmp_path / "b"
    rep = build_project(graph, load_target("host"), out, prefix="fz", force=False,
                        info={"model": "fusion-test", "options": {}}, memory="min")
    assert rep["memory_mode"] == "min" and len(rep["fused_regions"]) == len(regions)
    folder = load_build_folder(out)
    for y, records, acts in _traced_runs(folder, graph, seed + 10):
        want = acts[graph.outputs[0]]
        assert np.array_equal(y.reshape(want.shape), want)
        ends = {r.end for r in regions}
        inner = {i for r in regions for i in range(r.start, r.end)}
        traced = [i for i, _ in records]
        assert ends <= set(traced) and not inner & set(traced)  # a region is traced as its last layer
        for i, data in records:
            expect = acts[graph.nodes[i].outputs[0]].reshape(-1)
            assert np.array_equal(np.frombuffer(data, np.int8), expect), graph.nodes[i].name
    from mbmicro.cli import main

    capsys.readouterr()
    assert main(["verify", str(out), "--count", "1"]) == 0
    assert f"; {len(regions)} fused row regions (layers {regions[0].start}-{regions[0].end}, " \
        in capsys.readouterr().out


def _traced_runs(folder, graph: Graph, seed: int):
    """Two seeded random inputs through the build, traced per layer: (output, records, reference activations)."""
    rng = np.random.default_rng(seed)
    for _ in range(2):
        x = rng.integers(-128, 128, graph.input.shape, dtype=np.int8)
        y, records = run_build(folder, x, trace=True)
        yield y, records, run_int8(graph, x, collect=True)


def _check_fused_plan(graph: Graph, plan) -> None:
    """No two buffers live at one step overlap (region rings are the step's scratch); inner tensors
    are not in the arena; every input of a step is live and in place there."""
    step_of = list(range(len(graph.nodes)))
    for r in plan.regions:
        for i in range(r.start, r.end + 1):
            step_of[i] = r.start
        assert not set(r.internal) & set(plan.offsets)
        assert plan.scratch[r.start][1] >= r.scratch_bytes
    for step in sorted(set(step_of)):
        live = plan.live_at(step)
        spans = [(plan.offsets[x], plan.offsets[x] + plan.sizes[x], x) for x in live]
        if step in plan.scratch:
            off, n = plan.scratch[step]
            assert off % ALIGN == 0
            spans.append((off, off + n, "scratch"))
        for i, (a0, a1, ra) in enumerate(spans):
            assert a1 <= plan.peak
            for b0, b1, rb in spans[:i]:
                assert not (a0 < b1 and b0 < a1), f"step {step}: {ra} overlaps {rb}"
        for i in [j for j, s in enumerate(step_of) if s == step]:
            for t in graph.nodes[i].inputs:
                if t in plan.alias:
                    assert plan.alias[t] in live, (step, t)
    assert plan.peak >= plan.lower_bound > 0


@pytest.fixture(scope="module")
def table_a_graphs():
    from mbmicro.pipeline import make_model

    return {m: make_model(m, 0.35, 96, 10)[1] for m in MODEL_NAMES}


@pytest.mark.parametrize("mode", ["inplace", "balanced", "min"])
@pytest.mark.parametrize("io", [False, True])
def test_fused_plans_never_overlap_and_match_the_estimate(table_a_graphs, mode, io):
    from mbmicro.models.builder import structure_from_config
    from mbmicro.models.estimate import arena_lower_bound
    from mbmicro.models.options import check_options

    for name, graph in table_a_graphs.items():
        regions = fusion.find_regions(graph, mode, io)
        plan = plan_graph(graph, io_in_arena=io, regions=regions)
        _check_fused_plan(graph, plan)
        # planner regression guard: fused lifetimes are short and uneven, and no fixed first-fit order
        # reached the bound on MobileNetV2 and MnasNet-B1 (32,256 and 36,864 B against 29,952 and
        # 32,256 B balanced); the planner's seeded random restarts do, on every model
        assert plan.peak == plan.lower_bound, (name, plan.peak, plan.lower_bound)
        if mode == "balanced":  # and with the build's wider row groups
            wide = plan_graph(graph, io_in_arena=io, regions=widen_groups(graph, regions, io))
            _check_fused_plan(graph, wide)
            assert wide.peak == wide.lower_bound, (name, wide.peak, wide.lower_bound)
        unfused = plan_graph(graph, io_in_arena=io)
        assert plan.peak <= unfused.peak, name
        structure = structure_from_config(check_options(name, 0.35, 96, 10, 0))
        same = fusion.find_regions(structure, mode, io)
        assert [r.nodes for r in same] == [r.nodes for r in regions], name
        assert arena_lower_bound(structure, io, same) <= plan.peak, name


def test_in_place_region_output_takes_its_input_buffer():
    """A stride-1 residual block whose first stage is a 1x1 writes its output over its input."""
    ch = _Chain(np.random.default_rng(3), 9, 7, 8)
    ch.conv("pre", "conv2d", 8, 1, 1)
    ch.block("b", 6, 3, 1, 8, residual=True)
    ch.block("c", 6, 3, 1, 8, residual=True)  # reads b's output twice: the chain ends at b.add
    ch.conv("post", "conv2d", 8, 1, 1)
    graph = ch.graph()
    region = fusion.find_regions(graph, "min")[0]
    assert region.nodes == ["b.expand", "b.dw", "b.project", "b.add"] and region.inplace
    plan = plan_graph(graph, regions=fusion.find_regions(graph, "min"))
    assert plan.alias["b.add"] == plan.alias["pre"]
    _check_fused_plan(graph, plan)


# ---- in-place depthwise (--memory inplace; balanced/min outside fused regions) ---------------------

def _force_inplace(monkeypatch):
    """``--memory inplace`` runs every KHxKW depthwise in place (not only where the peak drops),
    so that every depthwise shape of the model goes through the delay buffer."""
    real = fusion.find_regions
    monkeypatch.setattr(fusion, "find_regions", lambda g, mode, io=False, cost=None:
                        fusion.inplace_candidates(g) if mode == "inplace" else real(g, mode, io))


@pytest.mark.parametrize("seed", range(3))
def test_inplace_depthwise_is_bit_exact_on_host(seed, tmp_path, monkeypatch):
    graph = random_mbconv_graph(seed)
    regions = fusion.inplace_candidates(graph)
    assert {(r.stages[0].kh, r.stages[0].stride) for r in regions} == {(3, 1), (5, 1), (5, 2), (3, 2)}
    _force_inplace(monkeypatch)
    out = tmp_path / "b"
    rep = build_project(graph, load_target("host"), out, prefix="ip", force=False,
                        info={"model": "fusion-test", "options": {}}, memory="inplace")
    assert len(rep["fused_regions"]) == len(regions)
    assert all(r["output_over_input"] for r in rep["fused_regions"])  # each dw writes over its input
    plan = plan_graph(graph, regions=regions)
    _check_fused_plan(graph, plan)
    folder = load_build_folder(out)
    for y, records, acts in _traced_runs(folder, graph, seed + 20):
        for i, data in records:
            expect = acts[graph.nodes[i].outputs[0]].reshape(-1)
            assert np.array_equal(np.frombuffer(data, np.int8), expect), graph.nodes[i].name
        want = acts[graph.outputs[0]]
        assert np.array_equal(y.reshape(want.shape), want)


@pytest.mark.parametrize("kh,stride,h,w,c", [(3, 1, 9, 7, 8), (5, 1, 6, 5, 3), (7, 1, 11, 4, 2), (3, 2, 9, 9, 4),
                                             (5, 2, 8, 3, 5), (3, 2, 2, 2, 16), (7, 2, 13, 13, 1)])
def test_inplace_depthwise_never_reads_a_row_written_back(kh, stride, h, w, c):
    """Replay of fusion.inplace_schedule on the bytes of the shared buffer: no input byte is read
    after an output row was written back over it, every output row is written back once, at
    most ``delay_rows`` rows wait at a time, and no row waits in a slot that is reused."""
    ch = _Chain(np.random.default_rng(kh * 10 + stride), h, w, c)
    ch.conv("dw", "depthwise", 0, kh, stride)
    graph = ch.graph()
    (region,) = fusion.inplace_candidates(graph)
    st, rows = region.stages[0], region.delay_rows
    clobbered = np.zeros(h * st.in_row_bytes, bool)
    waiting, flushed = {}, []
    for event in fusion.inplace_schedule(st):
        if event[0] == "read":
            _, o, first, last = event
            assert not clobbered[first * st.in_row_bytes:(last + 1) * st.in_row_bytes].any(), (o, first)
            assert o % rows not in waiting, o
            waiting[o % rows] = o
        else:
            q = event[1]
            assert waiting.pop(q % rows) == q
            clobbered[q * st.out_row_bytes:(q + 1) * st.out_row_bytes] = True
            flushed.append(q)
    assert flushed == list(range(st.out_rows)) and not waiting
    if stride == 1:
        assert rows == st.pad_top + 1  # the rows the next output rows still read, and the one computed


def test_inplace_depthwise_lowers_the_unfused_peak():
    """MobileNetV2 0.35/96: --memory inplace peaks below fast; the estimate agrees with the plan."""
    from mbmicro.pipeline import make_model

    graph = make_model("mobilenetv2", 0.35, 96, 10, 0)[1]
    regions = fusion.find_regions(graph, "inplace")
    assert regions and all(r.delay_rows and len(r.stages) == 1 for r in regions)
    plan = plan_graph(graph, regions=regions)
    _check_fused_plan(graph, plan)
    assert plan.peak < plan_graph(graph).peak
    every = plan_graph(graph, regions=fusion.inplace_candidates(graph))
    _check_fused_plan(graph, every)


def _replay(stages, rings, wide=()):
    """Run the region's schedule on row indices (groups of rows per call, fix-up copies): every
    window must find its rows in the ring, contiguous, and every group must fit the slots.
    A wide ring (index in ``wide``: no mirror rows) is read and written slot by slot modulo R,
    as mbmicro_dw_ring_channel and the widen loop do."""
    slots = [dict() for _ in rings]
    out = 0
    for event in fusion.schedule(stages):
        if event[0] == "write" and event[1] in wide:
            _, k, p, n = event
            rows, mirror = rings[k]
            assert mirror == 0
            for i in range(n):
                slots[k][(p + i) % rows] = p + i
        elif event[0] == "read" and event[1] > 0 and event[1] - 1 in wide:
            _, k, first, n = event
            rows = rings[k - 1][0]
            for j in range(n):
                assert slots[k - 1].get((first + j) % rows) == first + j, (k, first, j)
        elif event[0] == "write":
            _, k, p, n = event
            rows, mirror = rings[k]
            base = p % rows
            assert base + n <= rows + mirror
            for i in range(n):
                slots[k][base + i] = p + i
            for s in range(base, base + n):  # mbmicro_fused_ring_fix
                if s >= rows:
                    slots[k][s - rows] = slots[k][s]
                elif s < mirror:
                    slots[k][s + rows] = slots[k][s]
        elif event[0] == "read" and event[1] > 0:
            _, k, first, n = event
            rows = rings[k - 1][0]
            for j in range(n):
                assert slots[k - 1].get(first % rows + j) == first + j, (k, first, j)
        elif event[0] == "out":
            assert event[1] == out
            out += event[2]
    assert out == stages[-1].out_rows


@pytest.mark.parametrize("seed", range(4))
def test_ring_sizes_hold_every_window(seed):
    graph = random_mbconv_graph(seed)
    for r in fusion.candidate_regions(graph):
        for g in fusion.groups_for(r.stages):
            grouped = fusion.make_region(graph, r.start, r.stages, g)
            _replay(grouped.stages, grouped.rings)


@pytest.mark.parametrize("seed", range(4))
def test_wide_rings_hold_every_window_and_are_sized(seed):
    """The DSP family's wide rings (int16 slots of C * XW, R slots, no mirror): the replay finds
    every window slot by slot modulo R; the ring bytes and the staging rows are in the scratch."""
    graph = random_mbconv_graph(seed)
    regions = fusion.candidate_regions(graph, "dsp")
    assert any(any(r.wide) for r in regions) and not any(any(r.wide) for r in fusion.candidate_regions(graph))
    for r in regions:
        wide = {k for k in range(len(r.rings)) if r.is_wide(k)}
        for k in wide:
            dw = r.stages[k + 1]
            assert dw.op == "depthwise" and dw.kh > 1
            c = graph.tensors[dw.chain_input].shape[3]
            assert r.wide[k] == c * ((dw.width - 1) * dw.stride + dw.kh + dw.kh % 2)
        for g in fusion.groups_for(r.stages):
            grouped = fusion.make_region(graph, r.start, r.stages, g, wide)
            _replay(grouped.stages, grouped.rings, wide)
            sizes = [n for _, n in grouped.scratch_layout()]
            assert sizes[:len(grouped.rings)] == [grouped.ring_bytes(k) for k in range(len(grouped.rings))]
            for k in wide:
                assert grouped.ring_bytes(k) == grouped.rings[k][0] * grouped.wide[k] * 2
            if wide:
                assert sizes[-1] == max(grouped.stages[k].group * grouped.stages[k].out_row_bytes for k in wide)
            else:
                assert grouped.staging_bytes == 0


def test_wide_rings_narrow_where_the_channel_kernel_does_not_apply():
    """TFLite's rounding rules out the channel kernel (and so the ring kernel): the build's regions
    (fused.narrow_rings) get int8 rings with mirror rows again; the default rule keeps them wide."""
    from mbmicro.codegen.fused import narrow_rings

    graph = random_mbconv_graph(1)
    regions = [r for r in fusion.candidate_regions(graph, "dsp") if any(r.wide)]
    assert regions and all(narrow_rings(graph, r) is r for r in regions)
    graph.meta["requant"] = "tflite"
    for r in regions:
        narrow = narrow_rings(graph, r)
        assert not any(narrow.wide) and not narrow.staging_bytes
        assert [m for _, m in narrow.rings] == [m for _, m in fusion.make_region(graph, r.start, r.stages).rings]


@pytest.mark.parametrize("grouped", [False, True])
def test_wide_ring_regions_are_bit_exact_on_m4(grouped, tmp_path, monkeypatch):
    """Every candidate region of a random MBConv chain with the DSP family's wide rings (the ring
    kernel, the widen loop, the staging rows), built for the Cortex-M4 and run in QEMU: the output
    and every traced region equal the int8 reference."""
    graph = random_mbconv_graph(5)
    regions = fusion.candidate_regions(graph, "dsp")
    if grouped:
        regions = [fusion.make_region(graph, r.start, r.stages, r2.stages[0].group,
                                      {k for k in range(len(r.rings)) if r.is_wide(k)})
                   for r, r2 in zip(regions, _grouped(graph, regions))]
        assert any(r.stages[0].group > 1 and any(r.wide) for r in regions)
    assert sum(map(any, (r.wide for r in regions))) >= 3
    monkeypatch.setattr(fusion, "find_regions", lambda g, mode, io=False, cost=None: regions)
    out = tmp_path / "b"
    build_project(graph, load_target("cortex-m4"), out, prefix="wr", force=False,
                  info={"model": "fusion-test", "options": {}}, memory="min")
    source = (out / "model" / "wr_model.c").read_text() + (out / "model" / "wr_kernels.c").read_text()
    folder = load_build_folder(out)
    for y, records, acts in _traced_runs(folder, graph, 11):
        want = acts[graph.outputs[0]]
        assert np.array_equal(y.reshape(want.shape), want)
        assert {r.end for r in regions} <= {i for i, _ in records}
        for i, data in records:
            assert np.array_equal(np.frombuffer(data, np.int8), acts[graph.nodes[i].outputs[0]].reshape(-1)), \
                graph.nodes[i].name
    assert "mbmicro_dw_widen_row(" in source and "mbmicro_dw_ring_channel(" in source


@pytest.mark.parametrize("grouped", [False, True])
def test_regions_starting_at_a_mixed_stage_are_bit_exact(grouped, tmp_path, monkeypatch):
    """A mixed-kernel depthwise as a region's first stage (boundary windows from the input),
    and one after an expand and a LUT with stride 2, in one region."""
    ch = _Chain(np.random.default_rng(5), 9, 7, 12)
    ch.conv("pre", "conv2d", 12, 1, 1)
    start = ch.cur
    ch.mixed("a.dw", [3, 5, 7], 1)
    ch.conv("a.project", "conv2d", 12, 1, 1)
    ch.add("a.add", start)
    ch.conv("b.expand", "conv2d", 20, 1, 1)
    ch.lut("b.expand.act")
    ch.mixed("b.dw", [3, 5, 9], 2)
    ch.conv("b.project", "conv2d", 8, 1, 1)
    graph = ch.graph()
    regions = fusion.candidate_regions(graph)
    assert [[s.op for s in r.stages] for r in regions] == [
        ["mixed", "conv2d", "add", "conv2d", "lut", "mixed", "conv2d"]]
    assert regions[0].window_scratch
    if grouped:
        regions = _grouped(graph, regions)
    monkeypatch.setattr(fusion, "find_regions", lambda g, mode, io=False, cost=None: regions)
    out = tmp_path / "b"
    build_project(graph, load_target("host"), out, prefix="mk", force=False,
                  info={"model": "fusion-test", "options": {}}, memory="min")
    x = np.random.default_rng(6).integers(-128, 128, graph.input.shape, dtype=np.int8)
    y, _ = run_build(load_build_folder(out), x)
    want = run_int8(graph, x, collect=True)[graph.outputs[0]]
    assert np.array_equal(y.reshape(want.shape), want)
    _check_fused_plan(graph, plan_graph(graph, regions=regions))


@pytest.fixture(scope="module")
def mixnet_small():
    from mbmicro.pipeline import make_model

    return make_model("mixnet-m", 0.25, 48, 10)[1]


def test_mixed_kernel_depthwise_is_one_stage(mixnet_small):
    """Each group's depthwise reads its own centered sub-window of the largest kernel's window."""
    graph = mixnet_small
    regions = fusion.candidate_regions(graph)
    mixed = [s for r in regions for s in r.stages if s.op == "mixed"]
    assert len(mixed) >= 10
    for s in mixed:
        assert s.kh == max(p[3] for p in s.parts) and s.node.endswith(".dw")
        for slice_name, dw_name, offset, kh, channels in s.parts:
            top = int(graph.node(dw_name).attrs["pad"][0])
            assert offset == s.pad_top - top and offset + kh <= s.kh
            assert graph.tensors[graph.node(slice_name).outputs[0]].shape[3] == channels
    for r in regions:  # the slices' and groups' tensors live in no ring and no arena buffer
        assert set(r.nodes) == {graph.nodes[i].name for i in range(r.start, r.end + 1)}
        for g in fusion.groups_for(r.stages)[:3]:
            grouped = fusion.make_region(graph, r.start, r.stages, g)
            _replay(grouped.stages, grouped.rings)


def test_mixed_kernel_regions_lower_mixnet_peak(table_a_graphs):
    graph = table_a_graphs["mixnet-m"]
    fast = plan_graph(graph).peak
    for mode in ("balanced", "min"):
        regions = fusion.find_regions(graph, mode)
        assert any(s.op == "mixed" for r in regions for s in r.stages), mode
        assert plan_graph(graph, regions=regions).peak < fast, mode


@pytest.mark.parametrize("target,grouped", [("host", True), ("cortex-m4", False), ("cortex-a53", True)])
def test_mixnet_fused_regions_are_bit_exact(mixnet_small, target, grouped, tmp_path, monkeypatch):
    """Every candidate region of MixNet-M 0.25/48 at once (mixed stages, grouped 1x1s, LUTs, adds),
    with 2-3 rows per call where the heights allow on host and A53: C equals the reference."""
    graph = mixnet_small
    regions = fusion.candidate_regions(graph)
    if grouped:
        regions = _grouped(graph, regions)
        assert any(s.op == "mixed" and s.group > 1 for r in regions for s in r.stages)
    assert any(graph.node(s.node).attrs.get("groups", 1) > 1 for r in regions for s in r.stages
               if s.op == "conv2d")
    readers = graph.consumers()  # an SE block's expand -> depthwise chain: its output pooled and gated
    assert any({"global_avg_pool", "mul"} <= {n.op for n in readers[r.output]} for r in regions)
    monkeypatch.setattr(fusion, "find_regions", lambda g, mode, io=False, cost=None: regions)
    out = tmp_path / "b"
    build_project(graph, load_target(target), out, prefix="mx", force=False,
                  info={"model": "mixnet-m", "options": {}}, memory="min")
    folder = load_build_folder(out)
    x = np.random.default_rng(7).integers(-128, 128, graph.input.shape, dtype=np.int8)
    y, records = run_build(folder, x, trace=True)
    acts = run_int8(graph, x, collect=True)
    assert np.array_equal(y.reshape(acts[graph.outputs[0]].shape), acts[graph.outputs[0]])
    assert {r.end for r in regions} <= {i for i, _ in records}
    for i, data in records:
        assert np.array_equal(np.frombuffer(data, np.int8), acts[graph.nodes[i].outputs[0]].reshape(-1)), \
            graph.nodes[i].name


# ---- whole models through the CLI: build --memory min, verify bit-exact ------------------------------

#: (model, target, options): MobileNetV2 (stride-2 regions) in QEMU on the M4 and the A53; an SE model,
#: MixNet's grouped 1x1s and ReXNet's partial residuals on the host at tiny resolutions (seconds each),
#: ReXNet's partial residuals (and SE chains) in QEMU on the M4 and the A53 too.  MixNet's mixed-kernel,
#: grouped and SE regions on the M4 and the A53: test_mixnet_fused_regions_are_bit_exact.
MODEL_CASES = [
    ("mobilenetv2", "cortex-m4", ["--width", "0.35", "--resolution", "96", "--classes", "10"]),
    ("mobilenetv2", "cortex-a53", ["--width", "0.35", "--resolution", "96", "--classes", "10"]),
    ("mobilenetv3-large", "host", ["--width", "0.35", "--resolution", "64", "--classes", "10"]),
    ("mixnet-m", "host", ["--width", "0.25", "--resolution", "48", "--classes", "10"]),
    ("rexnet", "host", ["--width", "0.35", "--resolution", "48", "--classes", "10"]),
    ("rexnet", "cortex-m4", ["--width", "0.35", "--resolution", "32", "--classes", "10"]),
    ("rexnet", "cortex-a53", ["--width", "0.35", "--resolution", "32", "--classes", "10"]),
]


def _partial_adds(folder) -> list[str]:
    """The fused adds whose residual has fewer channels than their output (ReXNet's partial residuals)."""
    import json

    from mbmicro.sim.build_folder import load_build_folder

    graph = load_build_folder(folder, need_graph=True).graph
    fused = {n for r in json.loads((folder / "report.json").read_text())["fused_regions"] for n in r["nodes"]}
    return [n.name for n in graph.nodes if n.op == "add" and n.name in fused
            and len({graph.tensors[t].shape[-1] for t in n.inputs}) > 1]


@pytest.mark.parametrize("model,target,options", MODEL_CASES, ids=[f"{m}-{t}" for m, t, _ in MODEL_CASES])
def test_models_fused_min_are_bit_exact(model, target, options, tmp_path, capsys):
    import json

    from mbmicro.cli import main

    out = tmp_path / "b"
    assert main(["build", "--model", model, "--target", target, "--memory", "min", *options, "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["memory_mode"] == "min" and report["fused_regions"] and report["io_in_arena"]
    ops = {layer["name"]: layer for layer in report["layers"]}
    assert any(ops[r["nodes"][0]]["op"] == "conv2d" for r in report["fused_regions"])
    if model == "rexnet":
        assert _partial_adds(out)
    capsys.readouterr()
    assert main(["verify", str(out), "--count", "2"]) == 0
    assert "verified 2/2 inputs bit-exact" in capsys.readouterr().out


#: MobileNetV2 0.35/32 with every depthwise in place: the host, the M4's DSP kernels in QEMU, the A53's NEON
INPLACE_CASES = ["host", "cortex-m4", "cortex-a53"]


@pytest.mark.parametrize("target", INPLACE_CASES)
def test_mobilenetv2_inplace_is_bit_exact(target, tmp_path, capsys, monkeypatch):
    import json

    from mbmicro.cli import main

    _force_inplace(monkeypatch)
    out = tmp_path / "b"
    assert main(["build", "--model", "mobilenetv2", "--width", "0.35", "--resolution", "32", "--classes", "10",
                 "--target", target, "--memory", "inplace", "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    depthwise = [layer["name"] for layer in report["layers"] if layer["op"] == "depthwise"]
    assert report["memory_mode"] == "inplace" and [r["nodes"] for r in report["fused_regions"]] == \
        [[name] for name in depthwise] and len(depthwise) >= 16  # every block's depthwise
    assert all(r["output_over_input"] for r in report["fused_regions"])
    capsys.readouterr()
    assert main(["verify", str(out), "--count", "2"]) == 0
    assert "verified 2/2 inputs bit-exact" in capsys.readouterr().out


def test_a_build_that_does_not_fit_is_retried_fused(tmp_path, capsys):
    """MobileNetV2 0.35/96 needs 80,394 B of SRAM balanced and 75,290 B with every region fused:
    with 77,000 B it is built with --memory min, and the note says so."""
    import json

    from mbmicro.cli import main

    out = tmp_path / "b"
    assert main(["build", "--model", "mobilenetv2", "--width", "0.35", "--resolution", "96", "--classes", "10",
                 "--target", "cortex-m4", "--sram", "77000", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "retrying with --memory min (fused row regions)" in err and "with --memory balanced" in err, err
    report = json.loads((out / "report.json").read_text())
    assert report["memory_mode"] == "min" and json.loads((out / "build.json").read_text())["memory"] == "min"
    assert report["memory"]["sram_needed_bytes"] <= 77000 < 80394
