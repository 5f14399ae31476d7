"""The default-rule add and SE multiply in 32-bit arithmetic (docs/INT8_SEMANTICS.md)
and the table lookup: their multipliers, the reference against the real-valued result, the generated
kernels against the reference on 240 random shapes each on the host (in place
too), the table lookup's re-laid table, and a Cortex-M4 build of 40 add, 20
multiply and 10 lookup layers bit-exact in QEMU, layer by layer.

Why extreme inputs and scale ratios over decades: the kernels fold every zero
point into one int32 constant and compute ``k + a*Ma + b*Mb`` (add) or
``K + x*G`` (mul) on raw int8 values; only inputs at -128/127 with the largest
multipliers reach the int32 bound (arith.ADD_INT32_BOUND) the folding relies on.
"""

from __future__ import annotations

import numpy as np
import pytest

from kernel_harness import Batch, random_act, random_int8, random_knobs, single_node_graph, tensor
from mbmicro.codegen.ops.add import single_constants
from mbmicro.codegen.ops.lut import unsigned_index_table
from mbmicro.reference import int8 as R
from mbmicro.reference.arith import ADD_INT32_BOUND, add_multipliers, mul_fits_int32, mul_multiplier
from test_kernels_misc import add_case


def _ratios(rng) -> tuple[float, float]:
    """sa/sy and sb/sy: usually 0.01..100, one time in eight 1e3..1e6 (f down to 1 or 2)."""
    if rng.integers(0, 8) == 0:
        return tuple(float(v) for v in 10 ** rng.uniform(3, 6, size=2))
    return tuple(float(v) for v in np.exp(rng.uniform(np.log(0.01), np.log(100.0), size=2)))


def _mismatches(batch, cases, alias: str) -> list[str]:
    """Kernels of a compiled batch whose output differs from the reference, run out of place
    and then in place (y aliasing the input ``alias``, as the memory planner may place it)."""
    bad = []
    for i, (graph, _node, feeds, ref) in enumerate(cases):
        if not np.array_equal(batch.run(i), ref):
            bad.append(batch.cases[i][1].function)
        buf = feeds[alias].copy()
        kernel = batch.cases[i][1]
        batch.cases[i] = (graph, kernel, {**feeds, alias: buf})
        batch.run(i, out=buf)
        if not np.array_equal(buf, ref):
            bad.append("in-place " + kernel.function)
    return bad


def test_add_multipliers_use_the_most_fraction_bits_int32_allows():
    rng = np.random.default_rng(5)
    for _ in range(500):
        ra, rb = _ratios(rng)
        (ma, mb), (f,) = add_multipliers(ra, rb, 1.0)
        assert 1 <= f <= 30 and ma + mb + (1 << f) <= ADD_INT32_BOUND
        assert ma == round(ra * 2**f) and mb == round(rb * 2**f)
        if f < 30:  # one more bit would break the bound
            assert round(ra * 2**(f + 1)) + round(rb * 2**(f + 1)) + (1 << (f + 1)) > ADD_INT32_BOUND
        for za, zb, zy, lo in ((-128, -128, 127, -128), (127, 127, -128, 127), (0, 0, 0, -128)):
            k, k_tail = single_constants(za, zb, zy, lo, int(ma), int(mb), int(f))
            worst = max(abs(k), abs(k_tail)) + 128 * (int(ma) + int(mb))
            assert worst < 2**31


def test_add_multipliers_refuse_a_ratio_int32_cannot_carry():
    add_multipliers(2.0**21, 2.0**20, 1.0)  # f = 1 still fits
    with pytest.raises(ValueError, match="too large for the output scale"):
        add_multipliers(2.0**22, 2.0**22, 1.0)


def test_reference_add_is_one_rounding_of_the_real_sum():
    """Off the real-valued sum by at most the multipliers' error: never more than one step,
    and equal wherever the real sum is not within that error of a tie."""
    rng = np.random.default_rng(8)
    for _ in range(200):
        ra, rb = np.exp(rng.uniform(np.log(0.01), np.log(100.0), size=2))
        a = rng.integers(-128, 128, (1, 4, 4, 6)).astype(np.int8)
        b = rng.integers(-128, 128, (1, 4, 4, 6)).astype(np.int8)
        za, zb, zy = (int(v) for v in rng.integers(-128, 128, 3))
        m, s = add_multipliers(ra, rb, 1.0)
        got = R.add(a, b, m, s, a_zp=za, b_zp=zb, y_zp=zy, act_min=-128, act_max=127).astype(np.int64)
        real = ra * (a.astype(np.float64) - za) + rb * (b.astype(np.float64) - zb)
        ideal = np.clip(np.floor(real + 0.5) + zy, -128, 127)
        err = 255 * 0.5 * 2.0 ** -int(s[0]) * 2 + 1e-9  # |(a-za)(Ma/2^f - ra)| + the same for b
        near_tie = np.abs(real - np.floor(real) - 0.5) <= err
        assert np.all(np.abs(got - ideal) <= 1)
        assert np.array_equal(got[~near_tie], ideal[~near_tie])


def test_reference_refuses_an_add_quantized_for_three_requantizations():
    """A graph.json written before the one-rounding add: one line naming the fix, not a wrong result."""
    from mbmicro.errors import UserError

    a = np.zeros((1, 2, 2, 3), np.int8)
    three = (np.full(3, 1 << 30, np.int32), np.array([31, 31, 51], np.int32))
    with pytest.raises(UserError, match="rebuild it with 'mbmicro build'"):
        R.add(a, a, *three, a_zp=0, b_zp=0, y_zp=0, act_min=-128, act_max=127)
    assert R.add(a, a, *three, a_zp=0, b_zp=0, y_zp=0, act_min=-128, act_max=127, rule="tflite").shape == a.shape


def _random_case(rng):
    H, W, C = (int(v) for v in (rng.integers(1, 10), rng.integers(1, 10), rng.integers(1, 49)))
    Cb = C if rng.integers(0, 2) else int(rng.integers(1, C + 1))
    zps = tuple(int(v) for v in rng.integers(-128, 128, 3))
    act = random_act(rng, zps[2])
    return add_case(rng, H, W, C, Cb, zps, act, ratios=_ratios(rng), extreme=bool(rng.integers(0, 3) == 0))


def test_add_kernel_random_shapes_bit_exact_and_in_place():
    rng = np.random.default_rng(909)
    cases = [_random_case(rng) for _ in range(240)]
    batch = Batch()
    try:
        for graph, node, feeds, _ in cases:
            batch.add(graph, node, feeds, random_knobs(rng, graph, node))
        batch.compile()
        bad = _mismatches(batch, cases, "a")
    finally:
        batch.close()
    assert not bad, f"{len(bad)} add kernels differ from the reference: {bad[:5]}"
    full = [c for c in cases if (c[1].attrs["act_min"], c[1].attrs["act_max"]) == (-128, 127)]
    assert len(full) > 40 and len(cases) - len(full) > 40  # both clamp forms exercised


def test_mul_multiplier_fits_int32_with_the_largest_shift():
    rng = np.random.default_rng(6)
    for real in np.exp(rng.uniform(np.log(1e-7), np.log(50.0), size=500)):
        (m,), (s,) = mul_multiplier(float(real))
        assert mul_fits_int32(int(m), int(s)) and m == round(real * 2**s)
        assert s == 23 or not mul_fits_int32(round(real * 2**(s + 1)), int(s) + 1)
        assert abs(m / 2**s - real) * 255 * 255 <= 2.0 ** -(int(s) + 1) * 255 * 255 + 1e-12
    (m,), (s,) = mul_multiplier(1 / 256)  # a sigmoid gate at sx = sy
    assert (int(m), int(s)) == (1 << 14, 22)


def test_mul_multiplier_too_large_for_int32_falls_back_to_the_64_bit_pair():
    (m,), (s,) = mul_multiplier(2.0**16)
    assert not mul_fits_int32(int(m), int(s)) and (1 << 30) <= m < (1 << 31)


def mul_case(rng, H, W, C, act, real, extreme=False):
    """A default-rule SE multiply with the int32 multipliers of ``real``, inputs and reference."""
    xz, gz, yz = (int(v) for v in rng.integers(-128, 128, 3))
    m, s = mul_multiplier(real)
    x, gate, y = tensor("x", (1, H, W, C), xz), tensor("g", (1, 1, 1, C), gz), tensor("y", (1, H, W, C), yz)
    lo, hi = act(yz)
    g, n = single_node_graph("mul", [x, gate], y, attrs=dict(act_min=lo, act_max=hi), params=dict(multiplier=m, shift=s))
    pick = (lambda shape: rng.choice(np.array([-128, 127], np.int8), size=shape)) if extreme else \
        (lambda shape: random_int8(rng, shape))
    xv, gv = pick(x.shape), pick(gate.shape)
    return g, n, {"x": xv, "g": gv}, R.mul(xv, gv, m, s, x_zp=xz, gate_zp=gz, y_zp=yz, act_min=lo, act_max=hi)


def test_mul_kernel_random_shapes_bit_exact_and_in_place():
    rng = np.random.default_rng(910)
    cases = []
    for _ in range(240):
        H, W, C = (int(v) for v in (rng.integers(1, 10), rng.integers(1, 10), rng.integers(1, 49)))
        real = float(np.exp(rng.uniform(np.log(1e-6), np.log(2.0))))
        cases.append(mul_case(rng, H, W, C, lambda z: random_act(rng, z), real, bool(rng.integers(0, 3) == 0)))
    batch = Batch()
    try:
        for graph, node, feeds, _ in cases:
            kernel = batch.add(graph, node, feeds, random_knobs(rng, graph, node))
            assert "int64_t" not in kernel.source, kernel.function  # the int32 path
        batch.compile()
        bad = _mismatches(batch, cases, "x")
    finally:
        batch.close()
    assert not bad, f"{len(bad)} mul kernels differ from the reference: {bad[:5]}"


def test_lut_table_is_indexed_by_the_unsigned_byte():
    table = np.random.default_rng(1).integers(-128, 128, 256).astype(np.int8)
    x = np.arange(-128, 128).astype(np.int8)
    np.testing.assert_array_equal(unsigned_index_table(table)[x.view(np.uint8)], R.lut(x, table))


def test_lut_kernel_random_sizes_bit_exact_and_in_place():
    rng = np.random.default_rng(911)
    cases = []
    for _ in range(240):
        shape = (1, int(rng.integers(1, 10)), int(rng.integers(1, 10)), int(rng.integers(1, 49)))
        x, y = tensor("x", shape, 0), tensor("y", shape, 0)
        table = random_int8(rng, (256,))
        graph, node = single_node_graph("lut", [x], y, params=dict(table=table))
        xv = random_int8(rng, shape)
        cases.append((graph, node, {"x": xv}, R.lut(xv, table)))
    batch = Batch()
    try:
        for graph, node, feeds, _ in cases:
            batch.add(graph, node, feeds, random_knobs(rng, graph, node))
        batch.compile()
        bad = []
        for i, (graph, node, feeds, ref) in enumerate(cases):
            if not np.array_equal(batch.run(i), ref):
                bad.append(batch.cases[i][1].function)
            buf = feeds["x"].copy()
            kernel = batch.cases[i][1]
            batch.cases[i] = (graph, kernel, {"x": buf})
            batch.run(i, out=buf)
            if not np.array_equal(buf, ref):
                bad.append("in-place " + kernel.function)
    finally:
        batch.close()
    assert not bad, f"{len(bad)} lut kernels differ from the reference: {bad[:5]}"


def _many_adds_graph(seed: int):
    """One input (1, 6, 5, 40) and 40 default-rule adds of slices of it (1..40 channels,
    partial adds, fused clamps, scale ratios 0.01..1e6), and 20 SE multiplies of slices
    by global pools of them (multiplier reals 1e-5..2), 10 table lookups."""
    from mbmicro.graph.ir import Graph, Node, Tensor

    rng = np.random.default_rng(seed)
    shape = (1, 6, 5, 40)
    tensors = {"x": Tensor("x", shape, "int8", 0.05, 3)}
    nodes = []
    for i in range(40):
        c = int(rng.integers(1, 41))
        cb = c if rng.integers(0, 2) else int(rng.integers(1, c + 1))
        for name, ch in ((f"sa{i}", c), (f"sb{i}", cb)):
            tensors[name] = Tensor(name, shape[:3] + (ch,), "int8", 0.05, 3)
            nodes.append(Node(name, "slice", ["x"], [name], {"begin": 0, "end": ch}))
        ra, rb = _ratios(rng)
        zy = int(rng.integers(-128, 128))
        tensors[f"y{i}"] = Tensor(f"y{i}", shape[:3] + (c,), "int8", 0.05 / max(ra, 1e-9), zy)
        m, s = add_multipliers(ra, rb, 1.0)
        lo, hi = random_act(rng, zy)
        nodes.append(Node(f"add{i}", "add", [f"sa{i}", f"sb{i}"], [f"y{i}"], {"act_min": lo, "act_max": hi},
                          {"multiplier": m, "shift": s}))
    for i in range(20):  # SE multiplies: a slice times the global pool of another slice
        c = int(rng.integers(1, 41))
        tensors[f"mx{i}"] = Tensor(f"mx{i}", shape[:3] + (c,), "int8", 0.05, 3)
        nodes.append(Node(f"mx{i}", "slice", ["x"], [f"mx{i}"], {"begin": 0, "end": c}))
        gz = int(rng.integers(-128, 128))
        tensors[f"g{i}"] = Tensor(f"g{i}", (1, 1, 1, c), "int8", 1 / 256, gz)
        gm, gs = mul_multiplier(0.05 / (shape[1] * shape[2]) * 256)
        nodes.append(Node(f"gap{i}", "global_avg_pool", [f"mx{i}"], [f"g{i}"], {}, {"multiplier": gm, "shift": gs}))
        zy = int(rng.integers(-128, 128))
        tensors[f"my{i}"] = Tensor(f"my{i}", shape[:3] + (c,), "int8", 0.05, zy)
        m, s = mul_multiplier(float(np.exp(rng.uniform(np.log(1e-5), np.log(2.0)))))
        lo, hi = random_act(rng, zy)
        nodes.append(Node(f"mul{i}", "mul", [f"mx{i}", f"g{i}"], [f"my{i}"], {"act_min": lo, "act_max": hi},
                          {"multiplier": m, "shift": s}))
    for i in range(10):  # table lookups of slices
        c = int(rng.integers(1, 41))
        tensors[f"lx{i}"] = Tensor(f"lx{i}", shape[:3] + (c,), "int8", 0.05, 3)
        tensors[f"ly{i}"] = Tensor(f"ly{i}", shape[:3] + (c,), "int8", 0.05, 0)
        nodes.append(Node(f"lx{i}", "slice", ["x"], [f"lx{i}"], {"begin": 0, "end": c}))
        nodes.append(Node(f"lut{i}", "lut", [f"lx{i}"], [f"ly{i}"], {"func": "test"},
                          {"table": rng.integers(-128, 128, 256).astype(np.int8)}))
    nodes.append(Node("out", "concat", [f"y{i}" for i in range(3)], ["out"]))
    tensors["out"] = Tensor("out", shape[:3] + (sum(tensors[f"y{i}"].shape[3] for i in range(3)),), "int8", 0.05, 0)
    for i in range(3):  # concat inputs share the output's qparams
        t = tensors[f"y{i}"]
        tensors[f"y{i}"] = Tensor(t.name, t.shape, "int8", 0.05, 0)
    graph = Graph("many-adds", tensors, nodes, ["x"], ["out"])
    graph.validate()
    return graph


def test_add_and_mul_kernels_bit_exact_on_cortex_m4_in_qemu(tmp_path):
    """40 add, 20 SE multiply and 10 table lookup layers in one Cortex-M4 firmware (the
    USAT paths of the generated C), every layer's output traced and compared with the
    reference."""
    from mbmicro.codegen.project import build_project
    from mbmicro.reference.int8 import run_int8
    from mbmicro.sim.build_folder import load_build_folder
    from mbmicro.sim.execute import run_build
    from mbmicro.targets.target import load_target

    graph = _many_adds_graph(77)
    out = tmp_path / "build"
    build_project(graph, load_target("cortex-m4"), out, prefix="many_adds", force=False,
                  info={"model": "many-adds", "options": {}})
    rng = np.random.default_rng(3)
    for x in (rng.integers(-128, 128, graph.input.shape).astype(np.int8),
              rng.choice(np.array([-128, 127], np.int8), size=graph.input.shape)):
        _, records = run_build(load_build_folder(out), x, trace=True)
        ref = run_int8(graph, x, collect=True)
        bad = [node.name for (_, data), node in zip(records, graph.nodes) if data != ref[node.outputs[0]].tobytes()]
        assert len(records) == len(graph.nodes) and not bad, bad
