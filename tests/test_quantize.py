"""Post-training quantization: multipliers, tables, qparams, the int8 graph it
produces, calibration input checks, and int8-vs-float agreement.

Why a hand-built graph: it exercises every op (grouped conv, depthwise
3/5, slice + concat, SE with hard-sigmoid and sigmoid gates, full and
partial residual adds, global pool, classifier) at a size that runs in
milliseconds, independent of the model builder.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mbmicro.errors import UserError
from mbmicro.reference.float32 import ACTIVATIONS, run_float
from mbmicro.graph.ir import Graph, Node, Tensor, conv_out_size, same_padding
from mbmicro.quant.lut import make_table
from mbmicro.pipeline import dequantize_output, quantize_input, random_input
from mbmicro.reference.arith import quantize_multiplier, requantize
from mbmicro.quant.ptq import load_calibration, qparams_from_range, quantize_graph
from mbmicro.reference.int8 import run_int8


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


# ------------------------------------------------------------------ a small graph with every op

class _Maker:
    """Appends float nodes with SAME padding and He-initialized weights."""

    def __init__(self, res: int, seed: int):
        self.rng = np.random.default_rng(seed)
        self.tensors = {"input": Tensor("input", (1, res, res, 3))}
        self.nodes: list[Node] = []

    def _add(self, op, inputs, shape, attrs=None, params=None) -> str:
        name = f"n{len(self.nodes)}_{op}"
        self.tensors[name] = Tensor(name, shape)
        self.nodes.append(Node(name, op, list(inputs), [name], attrs or {}, params or {}))
        return name

    def _shape(self, t):
        return self.tensors[t].shape

    def conv(self, x, out, k=1, stride=1, groups=1, act="none"):
        _, h, w, c = self._shape(x)
        (t, b), (l, r) = same_padding(h, k, stride), same_padding(w, k, stride)
        wt = self.rng.normal(0, math.sqrt(2.0 / (k * k * c // groups)), (out, k, k, c // groups))
        bias = self.rng.normal(0, 0.1, out)
        return self._add("conv2d", [x], (1, conv_out_size(h, stride), conv_out_size(w, stride), out),
                         dict(kernel=(k, k), stride=stride, pad=(t, l, b, r), groups=groups, act=act),
                         dict(weight=wt.astype(np.float32), bias=bias.astype(np.float32)))

    def dw(self, x, k=3, stride=1, act="none"):
        _, h, w, c = self._shape(x)
        (t, b), (l, r) = same_padding(h, k, stride), same_padding(w, k, stride)
        wt = self.rng.normal(0, math.sqrt(2.0 / (k * k)), (k, k, c))
        return self._add("depthwise", [x], (1, conv_out_size(h, stride), conv_out_size(w, stride), c),
                         dict(kernel=(k, k), stride=stride, pad=(t, l, b, r), act=act),
                         dict(weight=wt.astype(np.float32), bias=self.rng.normal(0, 0.1, c).astype(np.float32)))

    def fc(self, x, out, act="none"):
        c = self._shape(x)[3]
        wt = self.rng.normal(0, math.sqrt(2.0 / c), (out, c)).astype(np.float32)
        return self._add("fully_connected", [x], (1, 1, 1, out), dict(act=act),
                         dict(weight=wt, bias=self.rng.normal(0, 0.1, out).astype(np.float32)))

    def act(self, x, func):
        return self._add("act", [x], self._shape(x), dict(func=func))

    def gap(self, x):
        return self._add("global_avg_pool", [x], (1, 1, 1, self._shape(x)[3]))

    def se(self, x, gate_func):
        c = self._shape(x)[3]
        g = self.act(self.fc(self.fc(self.gap(x), max(1, c // 4), act="relu"), c), gate_func)
        return self._add("mul", [x, g], self._shape(x))

    def add(self, a, b, act="none"):
        return self._add("add", [a, b], self._shape(a), dict(act=act))

    def slice(self, x, begin, end):
        s = self._shape(x)
        return self._add("slice", [x], s[:3] + (end - begin,), dict(begin=begin, end=end))

    def concat(self, xs):
        s = self._shape(xs[0])
        return self._add("concat", xs, s[:3] + (sum(self._shape(t)[3] for t in xs),))

    def graph(self, out) -> Graph:
        g = Graph("tiny", self.tensors, self.nodes, ["input"], [out], meta={"model": "tiny"})
        g.validate()
        return g


def tiny_graph(res: int = 17, seed: int = 0) -> Graph:
    m = _Maker(res, seed)
    stem = m.conv("input", 8, k=3, stride=2, act="relu6")
    x = m.dw(stem, 3, act="relu6")
    x = m.act(m.conv(x, 12, groups=2), "hswish")
    x = m.concat([m.dw(m.slice(x, 0, 5), 5), m.dw(m.slice(x, 5, 12), 3)])
    x = m.se(m.act(x, "swish"), "hsigmoid")
    x = m.add(stem, m.conv(x, 8))
    x = m.add(x, m.conv(x, 5), act="relu")           # partial residual (ReXNet)
    x = m.se(m.dw(x, 3, stride=2, act="relu"), "sigmoid")
    x = m.act(m.conv(x, 16), "relu6")
    return m.graph(m.fc(m.gap(x), 10))


@pytest.fixture(scope="module")
def tiny():
    g = tiny_graph()
    return g, quantize_graph(g, seed=0)


# ------------------------------------------------------------------ requantization multipliers

@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-12, max_value=2.0**29), st.integers(-(2**24), 2**24))
def test_quantize_multiplier_round_trip(real, acc):
    m, s = quantize_multiplier(real)
    if m == 0:
        assert (m, s) == (0, 1) and real < 2.0**-31
        return
    assert 2**30 <= m < 2**31 and 1 <= s <= 62
    assert abs(m * 2.0**-s - real) <= real * 2.0**-31
    got = int(requantize(np.int64(acc), m, s))
    assert abs(got - acc * real) <= 0.5 + abs(acc) * real * 2.0**-30


# ------------------------------------------------------------------ lookup tables

MONOTONE_FROM = {"relu": -math.inf, "relu6": -math.inf, "sigmoid": -math.inf, "hsigmoid": -math.inf,
                 "hswish": -1.5, "swish": -1.2785}  # swish/h-swish rise after their minimum


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(MONOTONE_FROM)), st.floats(1e-3, 0.2), st.integers(-128, 127),
       st.floats(1e-3, 0.2), st.integers(-128, 127))
def test_lut_tables_are_monotone_and_rounded(func, sx, zx, sy, zy):
    table = make_table(func, sx, zx, sy, zy)
    assert table.shape == (256,) and table.dtype == np.int8
    x = (np.arange(-128, 128) - zx) * sx
    rising = table[x >= MONOTONE_FROM[func]].astype(int)
    assert np.all(np.diff(rising) >= 0)
    ideal = ACTIVATIONS[func](x) / sy + zy
    inside = (ideal > -128.5) & (ideal < 127.5)
    assert np.all(np.abs(table[inside] - ideal[inside]) <= 0.5 + 1e-9)
    assert np.all(table[ideal >= 127.5] == 127) and np.all(table[ideal <= -128.5] == -128)


def test_lut_rounds_half_to_even():
    table = make_table("relu", 1.0, 0, 2.0, 0)  # y / 2 for x = 1, 3, 5 is 0.5, 1.5, 2.5
    assert [int(table[128 + v]) for v in (1, 3, 5, -7)] == [0, 2, 2, 0]


# ------------------------------------------------------------------ activation qparams

@settings(max_examples=200, deadline=None)
@given(st.floats(-50, 50), st.floats(0, 50))
def test_qparams_cover_range_and_zero(lo, span):
    hi = lo + span
    scale, zp = qparams_from_range(lo, hi)
    assert scale > 0 and -128 <= zp <= 127
    lo0, hi0 = min(lo, 0.0), max(hi, 0.0)
    if hi0 > lo0:
        assert (-128 - zp) * scale <= lo0 + scale * 0.5 + 1e-6
        assert (127 - zp) * scale >= hi0 - scale * 0.5 - 1e-6


# ------------------------------------------------------------------ the int8 graph

def test_int8_graph_structure(tiny):
    fg, qg = tiny
    assert [n.name for n in qg.nodes] == [n.name for n in fg.nodes]
    assert qg.is_quantized and qg.meta["calibration"] == "random" and qg.meta["model"] == "tiny"
    for fn, qn in zip(fg.nodes, qg.nodes):
        assert qn.op == ("lut" if fn.op == "act" else fn.op) and qn.inputs == fn.inputs
        out = qg.tensors[qn.outputs[0]]
        assert out.dtype == "int8" and out.scale > 0 and -128 <= out.zero_point <= 127
        if qn.op in ("conv2d", "depthwise", "fully_connected"):
            w, ws = qn.params["weight"], qn.params["weight_scale"]
            assert w.dtype == np.int8 and w.shape == fn.params["weight"].shape and w.min() >= -127
            assert qn.params["bias"].dtype == np.int32 and ws.dtype == np.float32
            axis = -1 if qn.op == "depthwise" else 0
            np.testing.assert_allclose(np.moveaxis(w, axis, 0).reshape(len(ws), -1) * ws[:, None],
                                       np.moveaxis(fn.params["weight"], axis, 0).reshape(len(ws), -1),
                                       atol=float(ws.max()) / 2 + 1e-7)
            assert qn.params["multiplier"].shape == qn.params["shift"].shape == ws.shape
        if qn.op == "lut":
            assert qn.params["table"].shape == (256,) and qn.attrs["func"] == fn.attrs["func"]
            if fn.attrs["func"] in ("sigmoid", "hsigmoid"):
                assert (out.scale, out.zero_point) == (1 / 256, -128)
        if fn.attrs.get("act") == "relu6":
            assert qn.attrs["act_min"] == out.zero_point
            assert qn.attrs["act_max"] == min(127, out.zero_point + round(6 / out.scale))
        if qn.op == "concat":
            for t in qn.inputs:
                assert (qg.tensors[t].scale, qg.tensors[t].zero_point) == (out.scale, out.zero_point)
        if qn.op == "slice":
            src = qg.tensors[qn.inputs[0]]
            assert (src.scale, src.zero_point) == (out.scale, out.zero_point)
        if qn.op == "add":
            assert qn.params["multiplier"].shape == (2,) and qn.params["shift"].shape == (1,)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_int8_reference_tracks_float(tiny, seed):
    fg, qg = tiny
    x = random_input(fg, seed)
    y = dequantize_output(qg, run_int8(qg, quantize_input(qg, x)))
    assert cosine(y, run_float(fg, x)) > 0.99


def test_zero_weight_channel_and_determinism():
    fg = tiny_graph(seed=5)
    fg.nodes[0].params["weight"] = fg.nodes[0].params["weight"].copy()
    fg.nodes[0].params["weight"][3] = 0.0
    a, b = quantize_graph(fg, seed=7), quantize_graph(fg, seed=7)
    stem = a.nodes[0]
    assert np.all(stem.params["weight"][3] == 0) and np.isfinite(stem.params["weight_scale"]).all()
    for na, nb in zip(a.nodes, b.nodes):
        for k in na.params:
            np.testing.assert_array_equal(na.params[k], nb.params[k])
    assert a.tensors == b.tensors
    assert quantize_graph(fg, seed=8).input.scale != a.input.scale or \
        quantize_graph(fg, seed=8).output.scale != a.output.scale


# ------------------------------------------------------------------ calibration input

def test_load_calibration_accepts_and_maps(tmp_path, tiny):
    fg, _ = tiny
    h = fg.input.shape[1]
    single = tmp_path / "one.npy"
    np.save(single, np.zeros((h, h, 3), np.float64))
    assert load_calibration(single, fg).shape == (1, h, h, 3)
    u8 = tmp_path / "u8.npy"
    np.save(u8, np.array([0, 255], np.uint8)[np.arange(2 * h * h * 3) % 2].reshape(2, h, h, 3))
    loaded = load_calibration(u8, fg)
    assert loaded.dtype == np.float32 and loaded.min() == -1.0 and loaded.max() == 1.0
    qg = quantize_graph(fg, u8)
    assert qg.meta["calibration"] == str(u8) and qg.meta["num_calibration"] == 2


@pytest.mark.parametrize("array,fragment", [
    (np.zeros((2, 5, 5, 3), np.float32), "shape"),
    (np.zeros((17, 17, 1), np.float32), "shape"),
    (np.zeros((0, 17, 17, 3), np.float32), "shape"),
    (np.zeros((1, 17, 17, 3), np.int32), "dtype"),
    (np.full((1, 17, 17, 3), np.nan, np.float32), "NaN"),
])
def test_load_calibration_rejects(tmp_path, tiny, array, fragment):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(UserError, match=fragment) as info:
        load_calibration(path, tiny[0])
    assert "\n" not in str(info.value)


def test_load_calibration_missing_or_garbage(tmp_path, tiny):
    with pytest.raises(UserError, match="does not exist"):
        load_calibration(tmp_path / "nope.npy", tiny[0])
    junk = tmp_path / "junk.npy"
    junk.write_text("not numpy")
    with pytest.raises(UserError, match="not a readable"):
        load_calibration(junk, tiny[0])


def test_run_int8_rejects_wrong_input(tiny):
    fg, qg = tiny
    with pytest.raises(UserError, match="int8"):
        run_int8(qg, random_input(fg, 0))
    with pytest.raises(UserError, match="float graph"):
        run_int8(fg, np.zeros(fg.input.shape, np.int8))


# ------------------------------------------------------------------ the built-in models

from mbmicro.cli import main as cli_main  # noqa: E402
from mbmicro.pipeline import make_model  # noqa: E402
from mbmicro.models.specs import MODEL_NAMES  # noqa: E402


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_model_cosine(model):
    """int8 reference (dequantized) vs float logits on 4 random inputs, width 0.35 at 96x96."""
    fg, qg = make_model(model, 0.35, 96, 1000)
    for seed in range(4):
        x = random_input(fg, 100 + seed)
        y = dequantize_output(qg, run_int8(qg, quantize_input(qg, x)))
        assert cosine(y, run_float(fg, x)) >= 0.95, f"{model} input seed {100 + seed}"


def test_reference_command_prints_both_top5(capsys):
    assert cli_main(["reference", "mobilenetv2", "--width", "0.35", "--resolution", "64", "--classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "int8 class" in out and "float class" in out and "logit cosine" in out
    assert len([line for line in out.splitlines() if line.strip()[:1].isdigit()]) == 5


def test_reference_command_rejects_bad_input(tmp_path, capsys):
    bad = tmp_path / "x.npy"
    np.save(bad, np.zeros((2, 64, 64, 3), np.float32))
    assert cli_main(["reference", "mobilenetv2", "--width", "0.35", "--resolution", "64", "--input", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "exactly one" in err and "\n" not in err
