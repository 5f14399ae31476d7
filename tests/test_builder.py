"""The float model builder, the per-model details it applies, and the float
reference interpreter (checked against naive loops)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mbmicro.reference import float32 as float_ref
from mbmicro.models.builder import build_float_graph
from mbmicro.errors import UserError
from mbmicro.reference.float32 import run_float
from mbmicro.graph.ir import conv_out_size, macs, param_count, same_padding
from mbmicro.models.details import make_divisible, split_channels
from mbmicro.models.specs import MODEL_NAMES


def built(model: str, width: float = 1.0, resolution: int = 224, classes: int = 1000):
    """Graphs are read-only in these tests: build each configuration once."""
    return _built(model, float(width), int(resolution), int(classes))


@functools.lru_cache(maxsize=None)
def _built(model: str, width: float, resolution: int, classes: int):
    return build_float_graph(model, width, resolution, classes)


def _image(resolution: int, seed: int = 123) -> np.ndarray:
    # not the builder's calibration batch: a fresh input
    return np.random.default_rng(seed).uniform(-1, 1, (1, resolution, resolution, 3)).astype(np.float32)


def check_shapes(g) -> None:
    """Every node's declared output shape follows from its inputs and attrs."""
    t = g.tensors
    for n in g.nodes:
        ins = [t[i].shape for i in n.inputs]
        out = t[n.outputs[0]].shape
        assert n.outputs == [n.name], n.name
        if n.op in ("conv2d", "depthwise"):
            (_, h, w, c), (kh, kw), s = ins[0], n.attrs["kernel"], n.attrs["stride"]
            pt, pb = same_padding(h, kh, s)
            pl, pr = same_padding(w, kw, s)
            assert tuple(n.attrs["pad"]) == (pt, pl, pb, pr), n.name
            assert out[1:3] == (conv_out_size(h, s), conv_out_size(w, s)), n.name
            wt = n.params["weight"]
            if n.op == "conv2d":
                assert wt.shape == (out[3], kh, kw, c // n.attrs["groups"]), n.name
            else:
                assert wt.shape == (kh, kw, c) and out[3] == c, n.name
            assert n.params["bias"].shape == (out[3],)
        elif n.op == "fully_connected":
            assert ins[0][1:3] == (1, 1) and out[1:3] == (1, 1)
            assert n.params["weight"].shape == (out[3], ins[0][3])
        elif n.op == "add":
            assert out == ins[0] and ins[1][:3] == ins[0][:3] and ins[1][3] <= ins[0][3], n.name
        elif n.op == "mul":
            assert out == ins[0] and ins[1] == (1, 1, 1, ins[0][3]), n.name
        elif n.op == "global_avg_pool":
            assert out == (1, 1, 1, ins[0][3])
        elif n.op == "concat":
            assert out[:3] == ins[0][:3] and out[3] == sum(s[3] for s in ins), n.name
        elif n.op == "slice":
            assert out == ins[0][:3] + (n.attrs["end"] - n.attrs["begin"],), n.name
        elif n.op == "act":
            assert out == ins[0] and n.attrs["func"] not in ("none",), n.name
        else:
            pytest.fail(f"unexpected op {n.op} in float graph")


# odd MCU resolutions (not halved evenly by every stride 2) at two widths
CONFIGS = [(1.0, 224, 1000), (0.35, 96, 10), (0.5, 80, 1000), (0.5, 144, 100), (0.35, 176, 1000)]


@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("width, resolution, classes", CONFIGS)
def test_builds_validates_and_shapes_agree(model, width, resolution, classes):
    g = built(model, width, resolution, classes)
    g.validate()
    check_shapes(g)
    assert g.name == model
    assert g.inputs == ["input"] and g.input.shape == (1, resolution, resolution, 3)
    assert g.outputs == ["classifier"] and g.output.shape == (1, 1, 1, classes)
    assert g.meta == {"model": model, "width": width, "resolution": resolution,
                      "classes": classes, "seed": 0}
    assert len({n.name for n in g.nodes}) == len(g.nodes)


@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("width, resolution", [(0.35, 96), (0.5, 80)])
def test_interpreted_shapes_match_declared(model, width, resolution):
    g = built(model, width, resolution, 10 if resolution == 96 else 1000)
    values = run_float(g, _image(resolution), collect=True)
    assert set(values) == set(g.tensors)
    for name, v in values.items():
        assert v.shape == g.tensors[name].shape and v.dtype == np.float32, name


@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("width, resolution", [(1.0, 224), (0.35, 96)])
def test_activations_stay_well_conditioned(model, width, resolution):
    """On an image outside the calibration batch no tensor explodes: the
    BN fold must generalise (a per-channel fold of the post-pooling FCs, or
    4 calibration images at 96x96, gave stds of 20 to 270 in SE models)."""
    g = built(model, width, resolution, 1000 if width == 1.0 else 10)
    values = run_float(g, _image(resolution), collect=True)
    for name, v in values.items():
        assert np.isfinite(v).all(), name
        assert v.std() < 5.0, f"{name}: std {v.std():.2f}"
    out = values["classifier"]
    assert 0.3 < out.std() < 5.0


def test_mobilenetv2_macs_and_params_match_paper():
    g = built("mobilenetv2")
    total_macs = sum(macs(g, n) for n in g.nodes)
    total_params = sum(param_count(n) for n in g.nodes)
    # Table A's MobileNetV2 has 3 (not 4) 64-channel blocks: ~291M vs the paper's 300M
    assert 290e6 <= total_macs <= 320e6
    assert 3.4e6 <= total_params <= 3.6e6


def test_weights_depend_only_on_seed():
    a = build_float_graph("mixnet-m", 0.35, 224, 10, seed=3)
    b = build_float_graph("mixnet-m", 0.35, 224, 10, seed=3)
    c = build_float_graph("mixnet-m", 0.35, 224, 10, seed=4)
    for na, nb, nc in zip(a.nodes, b.nodes, c.nodes):
        for k in na.params:
            assert np.array_equal(na.params[k], nb.params[k]), na.name
    assert not np.array_equal(a.node("stem").params["weight"], c.node("stem").params["weight"])


def test_names_structure_and_fused_acts_mobilenetv2():
    g = built("mobilenetv2")
    names = [n.name for n in g.nodes]
    assert names[:3] == ["stem", "s1b1.dw", "s1b1.project"]  # exp 32 == stem 32: no expansion
    assert names[-3:] == ["head.conv", "pool", "classifier"]
    assert not any(n.op == "act" for n in g.nodes)  # relu6 is always fused
    assert g.node("s2b1.expand").attrs["act"] == "relu6"
    assert g.node("s2b1.project").attrs["act"] == "none"
    assert g.node("s2b2.add").inputs == ["s2b2.project", "s2b1.project"]
    assert "s2b1.add" not in names  # stride 2


def test_mobilenetv3_details():
    g = built("mobilenetv3-large")
    assert g.node("stem.act").attrs["func"] == "hswish"
    assert g.node("s2b1.expand").attrs["act"] == "relu"
    assert g.node("s4b1.expand.act").attrs["func"] == "hswish"
    assert g.node("s3b1.se.reduce").attrs["act"] == "relu"
    assert g.tensors["s3b1.se.reduce"].shape[3] == 24  # make_divisible(72 / 4)
    assert g.node("s3b1.se.gate").attrs["func"] == "hsigmoid"
    assert g.node("s3b1.se.mul").inputs == ["s3b1.dw", "s3b1.se.gate"]
    assert g.tensors["s7b1.conv"].shape[3] == 960
    assert g.node("s7b1.conv.act").attrs["func"] == "hswish"
    assert g.tensors["head.fc"].shape == (1, 1, 1, 1280)
    assert g.node("head.fc.act").attrs["func"] == "hswish"
    assert "head.conv" not in {n.name for n in g.nodes}


def test_efficientnet_se_only_where_marked():
    g = built("efficientnet-b0")
    names = {n.name for n in g.nodes}
    assert "s1b1.se.pool" in names and "s2b1.se.pool" not in names and "s4b2.se.pool" in names
    assert "s4b3.se.pool" not in names
    assert g.tensors["s1b1.se.reduce"].shape[3] == 8  # int(32 * 0.25)
    assert g.tensors["s6b2.se.reduce"].shape[3] == 48  # int(192 * 0.25)
    assert g.node("s1b1.se.reduce.act").attrs["func"] == "swish"
    assert g.node("s1b1.se.gate").attrs["func"] == "sigmoid"


def test_mixnet_split_groups_and_se():
    g = built("mixnet-m")
    sizes = [g.tensors[f"s3b1.dw.g{i}"].shape[3] for i in range(4)]
    assert sizes == [48, 48, 48, 48]
    assert [g.node(f"s3b1.dw.g{i}").attrs["kernel"] for i in range(4)] == [(3, 3), (5, 5), (7, 7), (9, 9)]
    assert g.node("s3b1.dw").op == "concat" and g.node("s3b1.dw.act").attrs["func"] == "swish"
    assert g.node("s2b1.dw.g0").attrs["act"] == "relu"  # non-SE block: ReLU, fused per group
    assert g.node("s2b1.expand").attrs["groups"] == 2 and g.node("s2b1.project").attrs["groups"] == 2
    assert g.node("s3b1.expand").attrs["groups"] == 1
    assert g.node("s6b2.expand").attrs["groups"] == 1 and g.node("s6b2.project").attrs["groups"] == 2
    assert g.node("s7b1.project").attrs["groups"] == 1
    assert g.tensors["s3b1.se.reduce"].shape[3] == 16  # int(32 * 0.5)
    assert g.tensors["s4b1.se.reduce"].shape[3] == 10  # int(40 * 0.25)
    assert "s1b1.expand" not in {n.name for n in g.nodes}
    assert split_channels(10, 4) == [4, 2, 2, 2]


def test_rexnet_partial_residual_and_acts():
    g = built("rexnet")
    add = g.node("s2b2.add")  # 27 -> 38, stride 1
    assert [g.tensors[t].shape[3] for t in add.inputs] == [38, 27]
    assert g.node("s2b1.expand.act").attrs["func"] == "swish"
    assert g.node("s2b1.dw").attrs["act"] == "relu6"
    assert g.tensors["s3b1.se.reduce"].shape[3] == 228 // 12
    assert g.tensors["s2b1.project"].shape[3] == 27  # width 1.0: Table A exactly
    a = run_float(g, _image(224), collect=True)
    want = a["s2b2.project"].copy()
    want[..., :27] += a["s2b1.project"]
    np.testing.assert_allclose(a["s2b2.add"], want, rtol=1e-6, atol=1e-6)


def test_fbnet_residual_only_when_channels_equal():
    names = {n.name for n in built("fbnet-b").nodes}
    assert "s6b2.add" not in names and "s6b3.add" not in names and "s6b4.add" in names
    assert "s2b2.expand" not in names  # 24-24: no expansion
    assert "s2b1.expand" in names


def test_single_path_nas_uses_relu():
    g = built("single-path-nas")
    assert {n.attrs.get("act") for n in g.nodes if n.op in ("conv2d", "depthwise")} == {"relu", "none"}


def test_width_scaling_and_head_width():
    assert make_divisible(0.35 * 32) == 16 and make_divisible(0.5 * 27) == 16
    assert make_divisible(1280) == 1280 and make_divisible(18) == 24
    g = built("rexnet", 0.5, 96, 10)
    # timm rexnet_100's schedule (not 27 x 0.5 to 8): round((16 / 0.5 + 180 / 16) * 0.5) = 22
    assert g.tensors["s2b1.project"].shape[3] == 22
    assert g.tensors["head.conv"].shape[3] == 640  # ReXNet's head shrinks: 1280 x 0.5
    g = build_float_graph("mobilenetv2", 1.4, 224, 10)
    assert g.tensors["head.conv"].shape[3] == 1792  # MobileNetV2's only grows


def test_bad_options_raise_user_error():
    with pytest.raises(UserError, match="unknown model"):
        build_float_graph("resnet")
    with pytest.raises(UserError, match="resolution"):
        build_float_graph("mobilenetv2", resolution=16)


def test_run_float_rejects_wrong_input_shape():
    with pytest.raises(UserError, match="needs"):
        run_float(built("mobilenetv2", 0.35, 96, 10), np.zeros((1, 64, 64, 3), np.float32))


# ---------------------------------------------------- float_ref vs naive loops
def _naive_conv(x, w, b, stride, groups):
    n, h, wd, c = x.shape
    o, kh, kw, ig = w.shape
    pt, pb = same_padding(h, kh, stride)
    pl, pr = same_padding(wd, kw, stride)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0))).astype(np.float64)
    oh, ow = conv_out_size(h, stride), conv_out_size(wd, stride)
    out = np.zeros((n, oh, ow, o))
    og = o // groups
    for y in range(oh):
        for xx in range(ow):
            patch = xp[:, y * stride:y * stride + kh, xx * stride:xx * stride + kw, :]
            for oc in range(o):
                g = oc // og
                out[:, y, xx, oc] = (patch[..., g * ig:(g + 1) * ig] * w[oc]).sum(axis=(1, 2, 3)) + b[oc]
    return out, (pt, pl, pb, pr)


@pytest.mark.parametrize("k, stride, groups, size", [(3, 2, 1, 9), (1, 1, 2, 6), (5, 2, 2, 7), (1, 2, 1, 5)])
def test_conv2d_matches_naive(k, stride, groups, size):
    rng = np.random.default_rng(k * 10 + stride)
    x = rng.standard_normal((2, size, size, 4)).astype(np.float32)
    w = rng.standard_normal((6, k, k, 4 // groups)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    want, pad = _naive_conv(x, w, b, stride, groups)
    got = float_ref.conv2d(x, w, b, stride, pad, groups, "relu6")
    np.testing.assert_allclose(got, np.clip(want, 0, 6), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k, stride, size", [(3, 1, 6), (5, 2, 7), (7, 2, 8)])
def test_depthwise_matches_naive(k, stride, size):
    rng = np.random.default_rng(k)
    x = rng.standard_normal((1, size, size, 5)).astype(np.float32)
    w = rng.standard_normal((k, k, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    w_full = np.zeros((5, k, k, 1), np.float32)
    w_full[:, :, :, 0] = np.moveaxis(w, 2, 0)
    want, pad = _naive_conv(x, w_full, b, stride, groups=5)
    np.testing.assert_allclose(float_ref.depthwise(x, w, b, stride, pad), want, rtol=1e-5, atol=1e-5)


def test_small_ops():
    a = np.arange(8, dtype=np.float32).reshape(1, 1, 2, 4)
    b = np.ones((1, 1, 2, 2), np.float32)
    np.testing.assert_array_equal(float_ref.add(a, b)[..., :2], a[..., :2] + 1)
    np.testing.assert_array_equal(float_ref.add(a, b)[..., 2:], a[..., 2:])
    assert float_ref.global_avg_pool(a).shape == (1, 1, 1, 4)
    np.testing.assert_array_equal(float_ref.slice_channels(a, 1, 3), a[..., 1:3])
    np.testing.assert_array_equal(float_ref.concat([a[..., :1], a[..., 1:]]), a)
    v = np.array([-4.0, -3.0, 0.0, 3.0, 7.0], np.float32)
    np.testing.assert_allclose(float_ref.activation(v, "hswish"), [0, 0, 0, 3, 7])
    np.testing.assert_allclose(float_ref.activation(v, "hsigmoid"), [0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(float_ref.activation(v, "relu6"), [0, 0, 0, 3, 6])
    np.testing.assert_allclose(float_ref.activation(v, "swish"), v / (1 + np.exp(-v)), rtol=1e-6)
    np.testing.assert_allclose(float_ref.activation(v, "sigmoid"), 1 / (1 + np.exp(-v)), rtol=1e-6)
