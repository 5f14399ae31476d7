"""The float ONNX importer (mbmicro/formats/onnx_import.py), without torch.

Why these four groups: (1) the importer inverts mbmicro's own float export
for every built-in model, exactly (same ops, attributes, shapes and weights;
outputs within 1e-5); (2) graphs written with onnx.helper in the patterns
torch.onnx.export and tf2onnx produce (BatchNorm left in, Clip as ReLU6,
x * sigmoid(x), Pad before Conv, Split into a mixed-kernel concat, ...) each
compute what onnxruntime computes, within 1e-4, and map to the IR ops they
should; (3) a model file goes through `mbmicro build` and `mbmicro verify`
bit-exact, with its name and SHA-256 in build.json; (4) every bad file or
option is refused in one line, exit 2, with nothing written.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mbmicro.cli import main
from mbmicro.errors import UserError
from mbmicro.formats.onnx_float import export_float
from mbmicro.formats.onnx_import import import_model, import_onnx_file
from mbmicro.formats.onnx_oracle import session  # graph optimizations off: the exact float meaning
from mbmicro.models.specs import MODEL_NAMES
from mbmicro.reference.float32 import run_float

from test_cli_build import _leftovers, _one_line_error

ROUND_TRIP_TOL = 1e-5
ORT_TOL = 1e-4


# ------------------------------------------------------------------ (1) round trip of the built-in models

def _structure(graph) -> list[tuple]:
    return [(n.op, n.attrs, [graph.tensors[t].shape for t in n.inputs], graph.tensors[n.outputs[0]].shape)
            for n in graph.nodes]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_round_trip_of_every_built_in_model(name):
    from mbmicro.models.builder import build_float_graph
    from mbmicro.pipeline import random_input

    graph = build_float_graph(name, 0.35, 96, 10, seed=0)
    back = import_model(export_float(graph), name)
    assert _structure(back) == _structure(graph)
    assert [n.name for n in back.nodes] == [n.name for n in graph.nodes]
    for mine, theirs in zip(back.nodes, graph.nodes):
        assert mine.params.keys() == theirs.params.keys()
        for key, value in theirs.params.items():
            assert np.array_equal(mine.params[key], value), f"{name} {mine.name}.{key}"
    x = random_input(graph, 1)
    err = float(np.abs(run_float(back, x) - run_float(graph, x)).max())
    assert err <= ROUND_TRIP_TOL, f"{name}: max abs err {err:.3g}"


# ------------------------------------------------------------------ (2) exporter patterns against onnxruntime

class Onnx:
    """A small onnx.helper graph in the style of torch.onnx.export (2.x): nodes "/layers.k/Op" with
    outputs "/layers.k/Op_output_0", an NCHW float input."""

    def __init__(self, shape=(1, 3, 16, 16), opset: int = 13, seed: int = 0, input_name: str = "input"):
        self.shape, self.opset, self.input = shape, opset, input_name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def const(self, array, name: str | None = None) -> str:
        name = name or f"onnx::c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs) -> str | list[str]:
        self.count += 1
        base = f"/layers.{self.count}/{op_type}"
        outs = [f"{base}_output_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=base, **attrs))
        return outs[0] if outputs == 1 else outs

    def weight(self, *shape, fan_in: int) -> np.ndarray:
        return (self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def conv(self, x: str, cin: int, cout: int, k: int = 3, stride: int = 1, pad: int | None = None,
             group: int = 1, bias: bool = True, **attrs) -> str:
        pad = k // 2 if pad is None else pad
        w = self.const(self.weight(cout, cin // group, k, k, fan_in=k * k * cin // group))
        ins = [x, w] + ([self.const(self.rng.uniform(-0.2, 0.2, cout).astype(np.float32))] if bias else [])
        if "auto_pad" not in attrs:
            attrs["pads"] = [pad] * 4
        return self.op("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], group=group, **attrs)

    def bn(self, x: str, c: int) -> str:
        r = self.rng
        params = [r.uniform(0.5, 1.5, c), r.uniform(-0.3, 0.3, c), r.uniform(-0.5, 0.5, c), r.uniform(0.5, 2.0, c)]
        return self.op("BatchNormalization", [x] + [self.const(p.astype(np.float32)) for p in params],
                       epsilon=1e-3)

    def relu6(self, x: str) -> str:
        return self.op("Clip", [x, self.const(np.float32(0)), self.const(np.float32(6))])

    def gemm_head(self, x: str, c: int, n: int = 10) -> str:
        flat = self.op("Flatten", [x], axis=1)
        w = self.const(self.weight(n, c, fan_in=c))
        return self.op("Gemm", [flat, w, self.const(self.rng.uniform(-0.1, 0.1, n).astype(np.float32))],
                       alpha=1.0, beta=1.0, transB=1)

    def model(self, out: str, input_shape=None) -> onnx.ModelProto:
        x = helper.make_tensor_value_info(self.input, TensorProto.FLOAT, list(input_shape or self.shape))
        y = helper.make_tensor_value_info(out, TensorProto.FLOAT, None)
        g = helper.make_graph(self.nodes, "test", [x], [y], initializer=self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)], producer_name="pytorch",
                              producer_version="2.1.0")
        m.ir_version = 8
        # the exporters declare the output's shape: take it from shape inference
        shaped = onnx.shape_inference.infer_shapes(m, strict_mode=True).graph.output[0]
        m.graph.output[0].CopyFrom(shaped)
        onnx.checker.check_model(m)
        return m


def _check_against_ort(model: onnx.ModelProto, nhwc_input: bool = False, seed: int = 1, nchw_output: bool = True):
    """Import, run both on one image, compare within ORT_TOL; returns the imported graph."""
    graph = import_model(model, "case")
    x = np.random.default_rng(seed).uniform(-1, 1, graph.input.shape).astype(np.float32)
    feed = x if nhwc_input else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    want = session(model).run(None, {model.graph.input[0].name: feed})[0]
    got = run_float(graph, x)
    if nchw_output and want.ndim == 4 and got.shape[1:3] != (1, 1):
        want = want.transpose(0, 2, 3, 1)  # an NCHW feature map; the IR's output is NHWC
    err = float(np.abs(got.reshape(want.shape) - want).max())
    assert err <= ORT_TOL, f"max abs err {err:.3g}"
    return graph


def _ops(graph) -> list[str]:
    return [n.op if n.op != "act" else f"act:{n.attrs['func']}" for n in graph.nodes]


def test_conv_batchnorm_relu_folds_and_fuses():
    b = Onnx()
    y = b.op("Relu", [b.bn(b.conv("input", 3, 8, 3, stride=2, bias=False), 8)])
    graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 8)))
    assert _ops(graph) == ["conv2d", "global_avg_pool", "fully_connected"]
    assert graph.nodes[0].attrs["act"] == "relu" and graph.nodes[0].attrs["pad"] == (1, 1, 1, 1)


def test_batchnorm_that_cannot_fold_stays_a_1x1_depthwise():
    """BN after an Add (nothing to fold into) and BN on the image: exact as a 1x1 depthwise."""
    b = Onnx()
    x = b.bn("input", 3)
    c = b.conv(x, 3, 8)
    y = b.relu6(b.bn(b.op("Add", [c, b.conv(c, 8, 8, 1)]), 8))
    graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 8)))
    assert _ops(graph) == ["depthwise", "conv2d", "conv2d", "add", "depthwise", "global_avg_pool",
                           "fully_connected"]
    assert graph.nodes[4].attrs["act"] == "relu6" and graph.nodes[4].attrs["kernel"] == (1, 1)


def test_clip_min_max_inputs_and_attributes_are_relu6():
    for opset in (13, 10):
        b = Onnx(opset=opset)
        c = b.conv("input", 3, 8)
        y = b.relu6(c) if opset >= 11 else b.op("Clip", [c], min=0.0, max=6.0)
        graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 8)))
        assert _ops(graph)[0] == "conv2d" and graph.nodes[0].attrs["act"] == "relu6", opset


def test_opset_9_attribute_forms_of_pad_slice_clip_squeeze():
    """Before opsets 10/11/13 pads, slice bounds, clip bounds and squeeze axes were attributes."""
    b = Onnx(opset=9)
    x = b.op("Pad", ["input"], pads=[0, 0, 0, 0, 0, 0, 1, 1], mode="constant", value=0.0)
    x = b.op("Clip", [b.conv(x, 3, 8, 3, stride=2, pad=0)], min=0.0, max=6.0)
    x = b.op("Slice", [x], starts=[1], ends=[7], axes=[1])
    s = b.op("Squeeze", [b.op("GlobalAveragePool", [x])], axes=[2, 3])
    y = b.op("Gemm", [s, b.const(b.weight(10, 6, fan_in=6)), b.const(np.zeros(10, np.float32))], transB=1)
    graph = _check_against_ort(b.model(y))
    assert _ops(graph) == ["conv2d", "slice", "global_avg_pool", "fully_connected"]
    assert graph.nodes[0].attrs["pad"] == (0, 0, 1, 1) and graph.nodes[0].attrs["act"] == "relu6"


def test_clip_with_only_a_min_is_relu():
    b = Onnx()
    y = b.op("Clip", [b.conv("input", 3, 8), b.const(np.float32(0))])
    graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 8)))
    assert graph.nodes[0].attrs["act"] == "relu"


def test_hardswish_and_x_times_hardsigmoid():
    b = Onnx(opset=14)
    y = b.op("HardSwish", [b.conv("input", 3, 8)])
    c = b.conv(y, 8, 8, 1)
    y = b.op("Mul", [c, b.op("HardSigmoid", [c], alpha=1.0 / 6.0, beta=0.5)])  # torch at opset 13
    graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 8)))
    assert _ops(graph) == ["conv2d", "act:hswish", "conv2d", "act:hswish", "global_avg_pool", "fully_connected"]


def test_x_times_sigmoid_x_is_swish_either_order():
    b = Onnx()
    c = b.conv("input", 3, 8)
    y = b.op("Mul", [c, b.op("Sigmoid", [c])])
    d = b.conv(y, 8, 8, 1)
    y = b.op("Mul", [b.op("Sigmoid", [d]), d])
    graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 8)))
    assert _ops(graph) == ["conv2d", "act:swish", "conv2d", "act:swish", "global_avg_pool", "fully_connected"]


def test_squeeze_excite_gate_first_as_torchvision_writes_it():
    b = Onnx()
    x = b.relu6(b.conv("input", 3, 16, stride=2))
    s = b.op("GlobalAveragePool", [x])
    s = b.op("Relu", [b.conv(s, 16, 4, 1, pad=0)])
    gate = b.op("HardSigmoid", [b.conv(s, 4, 16, 1, pad=0)], alpha=1.0 / 6.0, beta=0.5)
    y = b.op("Mul", [gate, x])
    graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 16)))
    assert _ops(graph) == ["conv2d", "global_avg_pool", "fully_connected", "fully_connected", "act:hsigmoid",
                           "mul", "global_avg_pool", "fully_connected"]
    mul = graph.nodes[5]
    assert graph.tensors[mul.inputs[1]].shape == (1, 1, 1, 16)  # the IR's gate is the second input


@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_mean_keepdims_then_flatten_gemm(opset):
    b = Onnx(opset=opset)
    x = b.relu6(b.conv("input", 3, 8))
    axes = {"axes": [2, 3]} if opset < 18 else {}
    ins = [x] if opset < 18 else [x, b.const(np.array([-2, -1], np.int64))]
    graph = _check_against_ort(b.model(b.gemm_head(b.op("ReduceMean", ins, keepdims=1, **axes), 8)))
    assert _ops(graph) == ["conv2d", "global_avg_pool", "fully_connected"]


def test_reduce_mean_without_keepdims_then_matmul_add_and_dropout():
    """tf2onnx's Keras head: ReduceMean(keepdims=0) -> MatMul -> Add; the bias folds into the FC."""
    b = Onnx()
    x = b.relu6(b.conv("input", 3, 8))
    p = b.op("Dropout", [b.op("ReduceMean", [x], axes=[2, 3], keepdims=0)])
    m = b.op("MatMul", [p, b.const(b.weight(8, 10, fan_in=8))])
    y = b.op("Add", [m, b.const(b.rng.uniform(-1, 1, 10).astype(np.float32))])
    graph = _check_against_ort(b.model(b.op("Identity", [y])))
    assert _ops(graph) == ["conv2d", "global_avg_pool", "fully_connected"]


def test_old_torch_flatten_through_shape_gather_reshape():
    """x.view(x.size(0), -1) as older exporters wrote it: a constant subgraph the importer folds."""
    b = Onnx()
    p = b.op("GlobalAveragePool", [b.relu6(b.conv("input", 3, 8))])
    n = b.op("Gather", [b.op("Shape", [p]), b.const(np.array(0, np.int64))], axis=0)
    shape = b.op("Concat", [b.op("Unsqueeze", [n, b.const(np.array([0], np.int64))]),
                            b.const(np.array([-1], np.int64))], axis=0)
    flat = b.op("Reshape", [p, shape])
    y = b.op("Gemm", [flat, b.const(b.weight(10, 8, fan_in=8)), b.const(np.zeros(10, np.float32))], transB=1)
    graph = _check_against_ort(b.model(y))
    assert _ops(graph) == ["conv2d", "global_avg_pool", "fully_connected"]


def test_squeeze_head_and_constant_node_weights():
    b = Onnx()
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 3, 3, 3], b.weight(8, 3, 3, 3, fan_in=27).ravel())
    b.nodes.append(helper.make_node("Constant", [], ["cw"], value=w, name="/Constant_w"))
    x = b.op("Relu", [b.op("Conv", ["input", "cw"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])])
    s = b.op("Squeeze", [b.op("GlobalAveragePool", [x]), b.const(np.array([2, 3], np.int64))])
    y = b.op("Gemm", [s, b.const(b.weight(10, 8, fan_in=8))], transB=1)
    graph = _check_against_ort(b.model(y))
    assert _ops(graph) == ["conv2d", "global_avg_pool", "fully_connected"]


def test_pad_then_conv_folds_into_the_conv_padding():
    """timm's tf_ models: an explicit asymmetric Pad (TensorFlow SAME) before a VALID conv."""
    b = Onnx(shape=(1, 3, 15, 16))
    pads = b.const(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64))
    x = b.relu6(b.conv(b.op("Pad", ["input", pads], mode="constant"), 3, 8, 3, stride=2, pad=0))
    pads = b.const(np.array([0, 0, 1, 2, 0, 0, 1, 2], np.int64))
    y = b.relu6(b.conv(b.op("Pad", [x, pads]), 8, 8, 5, group=8, pad=0))
    graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 8)))
    assert _ops(graph) == ["conv2d", "depthwise", "global_avg_pool", "fully_connected"]
    assert graph.nodes[0].attrs["pad"] == (0, 0, 1, 1) and graph.nodes[1].attrs["pad"] == (1, 2, 1, 2)


def test_auto_pad_same_upper():
    b = Onnx(shape=(1, 3, 15, 15))
    y = b.relu6(b.conv("input", 3, 8, 3, stride=2, auto_pad="SAME_UPPER"))
    graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 8)))
    assert graph.nodes[0].attrs["pad"] == (1, 1, 1, 1)


def test_grouped_and_depthwise_conv():
    b = Onnx()
    x = b.relu6(b.conv("input", 3, 8))
    x = b.relu6(b.conv(x, 8, 8, 3, group=8))         # depthwise
    x = b.op("Relu", [b.conv(x, 8, 16, 3, group=2)])  # grouped 3x3
    x = b.conv(x, 16, 16, 1, group=4, pad=0)           # grouped 1x1
    x = b.conv(x, 16, 32, 3, group=16)                 # depthwise with multiplier 2: a grouped conv2d
    graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [x]), 32)))
    kinds = [(n.op, n.attrs.get("groups")) for n in graph.nodes[:5]]
    assert kinds == [("conv2d", 1), ("depthwise", None), ("conv2d", 2), ("conv2d", 4), ("conv2d", 16)]


@pytest.mark.parametrize("opset", [13, 11])
def test_split_into_a_mixed_kernel_concat(opset):
    """timm's MixedConv2d: Split on channels, one depthwise per kernel size, Concat."""
    b = Onnx(opset=opset)
    x = b.relu6(b.conv("input", 3, 12, stride=2))
    sizes = np.array([6, 4, 2], np.int64)
    parts = (b.op("Split", [x, b.const(sizes)], outputs=3, axis=1) if opset >= 13 else
             b.op("Split", [x], outputs=3, axis=1, split=sizes.tolist()))
    outs = [b.conv(p, int(c), int(c), k, group=int(c)) for p, c, k in zip(parts, sizes, (3, 5, 7))]
    y = b.op("Relu", [b.op("Concat", outs, axis=1)])
    graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 12)))
    assert _ops(graph) == ["conv2d", "slice", "slice", "slice", "depthwise", "depthwise", "depthwise",
                           "concat", "act:relu", "global_avg_pool", "fully_connected"]
    assert [(n.attrs["begin"], n.attrs["end"]) for n in graph.nodes if n.op == "slice"] == [(0, 6), (6, 10), (10, 12)]


def test_channel_slice_and_partial_residual_pad_add():
    """Slice on channels; ReXNet's residual: the narrower input padded with zero channels, then Add."""
    b = Onnx()
    x = b.relu6(b.conv("input", 3, 8))
    part = b.op("Slice", [x, b.const(np.array([2], np.int64)), b.const(np.array([6], np.int64)),
                          b.const(np.array([1], np.int64))])
    wide = b.conv(part, 4, 12, 1, pad=0)
    padded = b.op("Pad", [x, b.const(np.array([0, 0, 0, 0, 0, 4, 0, 0], np.int64))])
    y = b.op("Add", [padded, wide])
    graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 12)))
    assert _ops(graph) == ["conv2d", "slice", "conv2d", "add", "global_avg_pool", "fully_connected"]
    add = graph.nodes[3]
    assert [graph.tensors[t].shape[3] for t in add.inputs] == [12, 8]


def test_affine_constants_and_a_residual_add():
    """x * s + t per channel (a layer scale, input normalization) folds or stays exact."""
    b = Onnx()
    x = b.op("Div", [b.op("Sub", ["input", b.const(np.array([0.5, 0.4, 0.3], np.float32).reshape(1, 3, 1, 1))]),
                     b.const(np.float32(0.25))])
    c = b.relu6(b.conv(x, 3, 8))
    d = b.op("Mul", [b.conv(c, 8, 8, 1, pad=0), b.const(np.linspace(0.5, 1.5, 8, dtype=np.float32).reshape(8, 1, 1))])
    y = b.op("Add", [c, d])
    graph = _check_against_ort(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 8)))
    assert _ops(graph) == ["depthwise", "conv2d", "conv2d", "add", "global_avg_pool", "fully_connected"]


def test_nhwc_input_with_transpose_and_a_feature_map_output():
    """tf2onnx's layout: an NHWC input transposed to NCHW; a spatial output comes back NHWC."""
    b = Onnx(input_name="image")
    x = b.op("Transpose", ["image"], perm=[0, 3, 1, 2])
    y = b.op("Transpose", [b.relu6(b.conv(x, 3, 6, stride=2))], perm=[0, 2, 3, 1])
    graph = _check_against_ort(b.model(y, input_shape=(1, 16, 16, 3)), nhwc_input=True, nchw_output=False)
    assert graph.input.shape == (1, 16, 16, 3) and graph.output.shape == (1, 8, 8, 6)


def test_nchw_feature_map_output_is_nhwc_in_the_ir():
    b = Onnx()
    graph = _check_against_ort(b.model(b.relu6(b.conv("input", 3, 6, stride=2))))
    assert graph.output.shape == (1, 8, 8, 6)


def test_names_are_readable_and_safe_for_c_comments():
    """Torch's "/layers.k/Op_output_0" becomes "layers.k/Op"; a name that would end a C comment is made harmless."""
    b = Onnx()
    w = b.const(b.weight(8, 3, 1, 1, fan_in=3))
    b.nodes.append(helper.make_node("Conv", ["input", w], ["odd */ name"], name="weird"))
    y = b.relu6(b.conv("odd */ name", 8, 8))
    graph = import_model(b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 8)), "case")
    assert [n.name for n in graph.nodes] == ["odd__/_name", "layers.2/Clip", "layers.3/GlobalAveragePool",
                                             "layers.5/Gemm"]
    assert graph.inputs == ["input"]


# ------------------------------------------------------------------ (3) a model file end to end

def _small_model() -> onnx.ModelProto:
    """A torch-style MBConv network on a 24x32 image with the ops the built-in models lack: a BN
    on the image (a 1x1 depthwise), Pad before a conv, grouped 3x3 and multiplier-2 depthwise
    convs, Split/Concat, squeeze-excite, a partial residual, swish, ReduceMean -> MatMul + Add."""
    b = Onnx(shape=(1, 3, 24, 32), opset=14, seed=3)
    x = b.bn("input", 3)
    pads = b.const(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64))
    x = b.relu6(b.bn(b.conv(b.op("Pad", [x, pads]), 3, 8, 3, stride=2, pad=0, bias=False), 8))
    x = b.op("Relu", [b.conv(x, 8, 8, 3, group=2)])
    x = b.conv(x, 8, 16, 3, group=8)
    x = b.op("Mul", [x, b.op("Sigmoid", [x])])
    parts = b.op("Split", [x, b.const(np.array([8, 8], np.int64))], outputs=2, axis=1)
    y = b.op("Concat", [b.conv(p, 8, 8, k, group=8) for p, k in zip(parts, (3, 5))], axis=1)
    s = b.op("Relu", [b.conv(b.op("GlobalAveragePool", [y]), 16, 4, 1, pad=0)])
    y = b.op("Mul", [b.op("HardSigmoid", [b.conv(s, 4, 16, 1, pad=0)], alpha=1 / 6, beta=0.5), y])
    narrow = b.conv(y, 16, 12, 1, pad=0)
    wide = b.op("HardSwish", [b.conv(narrow, 12, 20, 1, pad=0)])
    y = b.op("Add", [wide, b.op("Pad", [narrow, b.const(np.array([0, 0, 0, 0, 0, 8, 0, 0], np.int64))])])
    p = b.op("ReduceMean", [y], axes=[2, 3], keepdims=0)
    m = b.op("MatMul", [p, b.const(b.weight(20, 10, fan_in=20))])
    return b.model(b.op("Add", [m, b.const(np.linspace(-1, 1, 10).astype(np.float32))]))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "tiny-net.onnx"
    path.write_bytes(_small_model().SerializeToString())
    return path


def test_small_model_matches_onnxruntime():
    graph = _check_against_ort(_small_model())
    assert _ops(graph) == ["depthwise", "conv2d", "conv2d", "conv2d", "act:swish", "slice", "slice", "depthwise",
                           "depthwise", "concat", "global_avg_pool", "fully_connected", "fully_connected",
                           "act:hsigmoid", "mul", "conv2d", "conv2d", "act:hswish", "add", "global_avg_pool",
                           "fully_connected"]


def test_build_and_verify_a_model_file(model_file, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["build", "--model", str(model_file), "--target", "host", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == ["mbmicro: warning: random calibration images: only for smoke tests; pass "
                                "--calibration FILE.npy (images preprocessed as the model expects)"]
    build = json.loads((out / "build.json").read_text())
    sha = hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert build["model"] == "tiny-net" and build["prefix"] == "tiny_net"
    assert build["source"] == {"file": "tiny-net.onnx", "sha256": sha, "path": str(model_file.resolve())}
    assert build["options"] == {"calibration": None}
    assert build["preprocess"]["crop"] == [24, 32] and build["preprocess"]["resize"] == 37
    assert main(["verify", str(out)]) == 0
    assert "bit-exact" in capsys.readouterr().out
    _evaluate_imported(out, tmp_path / "val", capsys)


def _evaluate_imported(out, root, capsys):
    """evaluate re-imports the recorded model file (same SHA-256) as the float model."""
    from PIL import Image

    rng = np.random.default_rng(3)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(root / name / "0.png")
    assert main(["evaluate", str(out), "--images", str(root), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["float_model"].startswith("imported ") and result["images"] == 2
    assert result["c_reference_bit_exact"] == 2 and result["top1"]["float"] is not None


def test_calibration_file_silences_the_warning(model_file, tmp_path, capsys):
    from mbmicro.pipeline import make_model

    images = np.random.default_rng(0).uniform(-1, 1, (4, 24, 32, 3)).astype(np.float32)
    np.save(tmp_path / "cal.npy", images)
    _, int8_graph = make_model(str(model_file), calibration=str(tmp_path / "cal.npy"))
    assert capsys.readouterr().err == ""
    assert int8_graph.meta["calibration"] == str(tmp_path / "cal.npy")
    assert int8_graph.meta["source"]["sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()


def test_show_reference_and_export_take_a_model_file(model_file, tmp_path, capsys):
    assert main(["show", str(model_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tiny-net: imported from") and "input 24x32x3, output 1x1x10" in out
    assert "conv2d+relu6" in out and "act:swish" in out and "act:hswish" in out
    assert main(["reference", str(model_file)]) == 0
    assert "tiny-net (from" in capsys.readouterr().out
    again = tmp_path / "again.onnx"
    assert main(["export-onnx", str(model_file), "-o", str(again)]) == 0
    assert "output (1, 10)" in capsys.readouterr().out
    x = np.random.default_rng(2).uniform(-1, 1, (1, 24, 32, 3)).astype(np.float32)
    want = session(_small_model()).run(None, {"input": x.transpose(0, 3, 1, 2).copy()})[0]
    got = session(onnx.load(again)).run(None, {"input": x})[0]
    assert float(np.abs(got - want).max()) <= ORT_TOL


# ------------------------------------------------------------------ (4) bad input: one line, exit 2, nothing written

def _refused(capsys, tmp_path, model_path: Path, *extra: str) -> str:
    """`build` with this file fails in one line with exit 2 and leaves no build folder."""
    out = tmp_path / "never"
    assert main(["build", "--model", str(model_path), "-o", str(out), *extra]) == 2
    line = _one_line_error(capsys)
    assert not out.exists()
    return line


def _write(tmp_path: Path, model: onnx.ModelProto, name: str = "bad.onnx") -> Path:
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def _head(b: Onnx, x: str, c: int) -> str:
    return b.gemm_head(b.op("GlobalAveragePool", [x]), c)


def test_unsupported_op_names_node_op_and_the_supported_ones(tmp_path, capsys):
    b = Onnx()
    y = b.op("MaxPool", [b.relu6(b.conv("input", 3, 8))], kernel_shape=[2, 2])
    line = _refused(capsys, tmp_path, _write(tmp_path, b.model(_head(b, y, 8))))
    assert "'/layers.3/MaxPool' (MaxPool) is not supported" in line and "Conv, BatchNormalization" in line


def test_dynamic_batch_is_refused(tmp_path, capsys):
    b = Onnx()
    m = b.model(_head(b, b.relu6(b.conv("input", 3, 8)), 8), input_shape=("batch", 3, 16, 16))
    line = _refused(capsys, tmp_path, _write(tmp_path, m))
    assert "(batch, 3, 16, 16)" in line and "static" in line and "dynamic_axes" in line


def test_qdq_node_is_refused_with_a_pointer_to_the_qdq_importer(tmp_path, capsys):
    """The float importer refuses Q/DQ nodes; a file holding them goes to the QDQ importer, which
    refuses this one: its conv output has no QuantizeLinear."""
    b = Onnx()
    q = b.op("QuantizeLinear", ["input", b.const(np.float32(0.02)), b.const(np.int8(0))])
    x = b.op("DequantizeLinear", [q, b.const(np.float32(0.02)), b.const(np.int8(0))])
    model = b.model(_head(b, b.relu6(b.conv(x, 3, 8)), 8))
    with pytest.raises(UserError, match=r"\(QuantizeLinear\).*QDQ importer is separate"):
        import_model(model)
    line = _refused(capsys, tmp_path, _write(tmp_path, model))
    assert "(Conv)" in line and "has no QuantizeLinear" in line


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
def test_truncated_file_is_refused(tmp_path, capsys, cut):
    data = _small_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[:int(len(data) * cut)])
    line = _refused(capsys, tmp_path, path)
    assert "not an ONNX model" in line or "not a valid ONNX model" in line


@pytest.mark.parametrize("content", [b"", b"hello, this is not a model\n", b"\x93NUMPY\x01\x00v\x00{'descr'"])
def test_non_onnx_file_is_refused(tmp_path, capsys, content):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    line = _refused(capsys, tmp_path, path)
    assert "model.onnx is" in line and ("empty" in line or "not an ONNX model" in line)


@pytest.mark.parametrize("case, expected", [
    ("clip", "only [0, 6] (ReLU6)"),
    ("hardsigmoid", "only PyTorch's Hardsigmoid"),
    ("opset", "opset 8"),
    ("two_inputs", "has 2 inputs"),
    ("int_input", "is INT8"),
    ("gray", "(1, 3, H, W)"),
    ("flatten_spatial", "only 1x1 heads can be reshaped"),
    ("dilation", "only dilation 1"),
    ("custom_domain", "(com.example.Fancy) is not supported"),
    ("softmax", "without the final Softmax"),
])
def test_other_unsupported_models_are_refused(tmp_path, capsys, case, expected):
    b = Onnx(opset=8 if case == "opset" else 13, shape=(1, 1, 16, 16) if case == "gray" else (1, 3, 16, 16))
    cin = 1 if case == "gray" else 3
    c = b.conv("input", cin, 8, dilations=[2, 2]) if case == "dilation" else b.conv("input", cin, 8)
    if case == "clip":
        c = b.op("Clip", [c, b.const(np.float32(-1)), b.const(np.float32(1))])
    if case == "hardsigmoid":
        c = b.op("HardSigmoid", [c])  # ONNX's default alpha 0.2 (Keras), not torch's 1/6
    if case == "custom_domain":
        b.nodes.append(helper.make_node("Fancy", [c], ["fancy"], name="/Fancy", domain="com.example"))
        c = "fancy"
    if case == "flatten_spatial":
        y = b.op("Gemm", [b.op("Flatten", [c]), b.const(b.weight(10, 8 * 16 * 16, fan_in=8))], transB=1)
    else:
        y = _head(b, c, 8)
    if case == "softmax":
        y = b.op("Softmax", [y], axis=1)
    if case == "two_inputs":
        y = b.op("Add", [y, "other"])
    model = _unchecked(b, y) if case in ("custom_domain", "two_inputs") else b.model(y)
    if case == "two_inputs":
        model.graph.input.append(helper.make_tensor_value_info("other", TensorProto.FLOAT, [1, 10]))
    if case == "int_input":
        model.graph.input[0].type.tensor_type.elem_type = TensorProto.INT8
    if case == "custom_domain":
        model.opset_import.append(helper.make_opsetid("com.example", 1))
    line = _refused(capsys, tmp_path, _write(tmp_path, model))
    assert expected in line, line


def _unchecked(b: Onnx, out: str) -> onnx.ModelProto:
    """Like Onnx.model, for graphs onnx.checker cannot know (ops of another domain)."""
    x = helper.make_tensor_value_info(b.input, TensorProto.FLOAT, list(b.shape))
    g = helper.make_graph(b.nodes, "test", [x], [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                          initializer=b.inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", b.opset)])


def test_built_in_options_are_refused_for_a_file_and_show_json_has_no_spec(model_file, tmp_path, capsys):
    for flag, value in (("--width", "0.5"), ("--resolution", "96"), ("--classes", "10"), ("--seed", "3")):
        line = _refused(capsys, tmp_path, model_file, flag, value)
        assert f"{flag} applies to built-in models only" in line and f"drop {flag} {value}" in line
    capsys.readouterr()
    assert main(["show", str(model_file), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["spec"] is None and shown["options"] is None and shown["model"] == "tiny-net"
    assert shown["source"] == {"file": str(model_file), "sha256": hashlib.sha256(model_file.read_bytes()).hexdigest()}
    assert [x["op"] for x in shown["layers"]][:2] == ["depthwise", "conv2d"]
    assert main(["show", str(tmp_path / "missing.onnx")]) == 2
    assert "does not exist" in _one_line_error(capsys)
    assert _leftovers(tmp_path) == []


def test_a_pipe_or_folder_named_like_a_model_is_refused(tmp_path, capsys):
    import os

    os.mkfifo(tmp_path / "pipe.onnx")
    (tmp_path / "dir.onnx").mkdir()
    for name in ("pipe.onnx", "dir.onnx"):
        assert main(["show", str(tmp_path / name)]) == 2
        assert "is not a file" in _one_line_error(capsys)
    with pytest.raises(UserError, match="not a regular file"):  # the importer itself never blocks on a FIFO
        import_onnx_file(tmp_path / "pipe.onnx")


def test_the_api_raises_user_errors():
    with pytest.raises(UserError, match="does not exist"):
        import_onnx_file("/no/such/model.onnx")
    b = Onnx()
    b.nodes.append(helper.make_node("LRN", ["input"], ["n"], name="/LRN", size=3))
    with pytest.raises(UserError, match=r"'/LRN' \(LRN\) is not supported"):
        import_model(b.model(_head(b, b.conv("n", 3, 8), 8)))
