"""add / mul / lut / global_avg_pool / concat / slice kernels vs
mbmicro.reference (bit for bit, including in-place runs of the element-wise
kernels), plus the contract of lower_node: deterministic bytes, no TVM
symbols, strict-warning C99, bounded names, shared kernels for equal shapes."""

import re

import numpy as np

from kernel_harness import Batch, random_act, random_int8, random_knobs, random_requant, single_node_graph, tensor
from mbmicro.reference import int8 as R
from mbmicro.codegen import kernels
from mbmicro.codegen.knobs import MAX_NAME, kernel_name
from mbmicro.reference.arith import add_multipliers


def _zp(rng):
    return int(rng.integers(-128, 128))


def add_case(rng, H, W, C, Cb, zps, act, ratios=None, extreme=False):
    """A default-rule add node with random scales (ratios sa/sy, sb/sy drawn over four decades
    unless given), its inputs (all +-128/127 when ``extreme``) and the reference output."""
    az, bz, yz = zps
    ra, rb = ratios or np.exp(rng.uniform(np.log(0.01), np.log(100.0), size=2))
    sy = 0.05
    m, s = add_multipliers(ra * sy, rb * sy, sy)
    a, b, y = tensor("a", (1, H, W, C), az), tensor("b", (1, H, W, Cb), bz), tensor("y", (1, H, W, C), yz)
    g, n = single_node_graph("add", [a, b], y, attrs=dict(act_min=act[0], act_max=act[1]),
                             params=dict(multiplier=m, shift=s))
    if extreme:
        av = rng.choice(np.array([-128, 127], np.int8), size=a.shape)
        bv = rng.choice(np.array([-128, 127], np.int8), size=b.shape)
    else:
        av, bv = random_int8(rng, a.shape), random_int8(rng, b.shape)
    ref = R.add(av, bv, m, s, a_zp=az, b_zp=bz, y_zp=yz, act_min=act[0], act_max=act[1])
    return g, n, {"a": av, "b": bv}, ref


def misc_cases(rng, H, W, C):
    """One case per op: (graph, node, feeds, knobs, ref, in_place_input or None)."""
    out = []
    Cb = C if rng.integers(0, 2) else int(rng.integers(1, C + 1))
    az, bz, yz = _zp(rng), _zp(rng), _zp(rng)
    lo, hi = random_act(rng, yz)
    g, n, feeds, ref = add_case(rng, H, W, C, Cb, (az, bz, yz), (lo, hi))
    out.append((g, n, feeds, random_knobs(rng, g, n), ref, "a"))
    y = tensor("y", (1, H, W, C), yz)
    xz, gz = _zp(rng), _zp(rng)
    x, gate = tensor("x", (1, H, W, C), xz), tensor("g", (1, 1, 1, C), gz)
    m, s = random_requant(rng, 1, 1e-4, 0.02)
    g, n = single_node_graph("mul", [x, gate], y, attrs=dict(act_min=lo, act_max=hi), params=dict(multiplier=m, shift=s))
    xv, gv = random_int8(rng, x.shape), random_int8(rng, gate.shape)
    out.append((g, n, {"x": xv, "g": gv}, random_knobs(rng, g, n),
                R.mul(xv, gv, m, s, x_zp=xz, gate_zp=gz, y_zp=yz, act_min=lo, act_max=hi), "x"))
    m, s = random_requant(rng, 1, 1e-3, 2.0)
    g, n = single_node_graph("global_avg_pool", [x], tensor("y", (1, 1, 1, C), yz), params=dict(multiplier=m, shift=s))
    out.append((g, n, {"x": xv}, None, R.global_avg_pool(xv, m, s, x_zp=xz, y_zp=yz), None))
    table = random_int8(rng, (256,))
    g, n = single_node_graph("lut", [x], y, params=dict(table=table))
    out.append((g, n, {"x": xv}, random_knobs(rng, g, n), R.lut(xv, table), "x"))
    chans = [int(c) for c in rng.integers(1, 12, int(rng.integers(1, 4)))]
    ins = [tensor(f"i{j}", (1, H, W, c), 0) for j, c in enumerate(chans)]
    g, n = single_node_graph("concat", ins, tensor("y", (1, H, W, sum(chans)), 0))
    vals = [random_int8(rng, t.shape) for t in ins]
    out.append((g, n, {t.name: v for t, v in zip(ins, vals)}, None, R.concat(vals), None))
    begin = int(rng.integers(0, C))
    end = int(rng.integers(begin + 1, C + 1))
    g, n = single_node_graph("slice", [x], tensor("y", (1, H, W, end - begin), 0), attrs=dict(begin=begin, end=end))
    out.append((g, n, {"x": xv}, None, R.slice_channels(xv, begin, end), None))
    return out


def test_misc_ops_seeded_shapes_and_in_place():
    rng = np.random.default_rng(2024)
    cases = []
    for _ in range(40):  # 6 ops x 40 = 240 kernels
        cases += misc_cases(rng, int(rng.integers(1, 10)), int(rng.integers(1, 10)), int(rng.integers(1, 40)))
    batch = Batch()
    try:
        for graph, node, feeds, knobs, *_ in cases:
            batch.add(graph, node, feeds, knobs)
        batch.compile()
        bad = []
        for i, (graph, node, feeds, knobs, ref, alias) in enumerate(cases):
            if not np.array_equal(batch.run(i), ref):
                bad.append(batch.cases[i][1].function)
            if alias is not None:  # out aliases the first input: in-place run
                buf = feeds[graph.node(node.name).inputs[0]].copy()
                kernel = batch.cases[i][1]
                batch.cases[i] = (graph, kernel, {**feeds, node.inputs[0]: buf})
                batch.run(i, out=buf)
                if not np.array_equal(buf, ref):
                    bad.append("in-place " + kernel.function)
                assert "restrict" not in kernel.source.split("void ", 1)[1].split("{", 1)[0]
    finally:
        batch.close()
    assert not bad, bad


def _one_of_each(rng):
    from test_kernels_conv import conv_case
    from test_kernels_dw import dw_case
    from test_kernels_pw import pw_case
    return ([c[:2] for c in misc_cases(rng, 5, 7, 13)] + [pw_case(rng, 5, 5, 12, 20)[:2]]
            + [dw_case(rng, 9, 9, 12, 5, 2)[:2], conv_case(rng, 9, 9, 3, 8, 3, 2, 1)[:2]])


def test_lowering_is_deterministic_and_standalone():
    rng = np.random.default_rng(11)
    for graph, node in _one_of_each(rng):
        first = kernels.lower_node(graph, node, "host")
        kernels.clear_cache()
        second = kernels.lower_node(graph, node, "host")
        assert first.source == second.source and first.function == second.function
        src = first.source
        assert src.startswith("#include <stdint.h>\n")
        assert not re.search(r"tvm|TVM", src), first.function
        assert "malloc" not in src and src.count("#include") == 1
        assert re.search(r"^void " + first.function + r"\(", src, re.M)
        for arg in first.args:
            assert arg.name in src
            if arg.kind in ("input", "const"):
                assert re.search(r"const \w+ \*(restrict )?" + arg.name + r"\b", src)


def test_identical_shapes_share_one_kernel():
    from test_kernels_pw import pw_case
    rng = np.random.default_rng(12)
    a = pw_case(rng, 6, 6, 16, 24, knob_pick=False)
    b = pw_case(rng, 6, 6, 16, 24, knob_pick=False)  # other weights, zero points, clamps
    ka = kernels.lower_node(a[0], a[1], "host")
    kb = kernels.lower_node(b[0], b[1], "host")
    assert ka.function == kb.function and ka.source == kb.source
    assert not np.array_equal(ka.args[1].value, kb.args[1].value)


def test_kernel_name_is_bounded_and_stable():
    long = kernel_name("cat", "p3136c" + "_".join(["17"] * 30), "")
    assert len(long) <= MAX_NAME and long == kernel_name("cat", "p3136c" + "_".join(["17"] * 30), "")
    assert long != kernel_name("cat", "p3136c" + "_".join(["17"] * 29), "")


def test_unknown_knob_is_rejected():
    from test_kernels_pw import pw_case
    graph, node, *_ = pw_case(np.random.default_rng(1), 4, 4, 8, 8, knob_pick=False)
    for bad in ({"tile_q": 2}, {"tile_p": 3}):
        try:
            kernels.lower_node(graph, node, "host", bad)
        except ValueError:
            continue
        raise AssertionError(f"knobs {bad} accepted")
