"""The QDQ ONNX importer (mbmicro/formats/onnx_qdq_import.py): quantized models keep their scales.

Why these four groups: (1) mbmicro's own QDQ export of every built-in int8
model imports back to the same int8 graph (names, scales, zero points, int8
weights, int32 biases, multipliers, tables) and so to the same reference
output, bit for bit; (2) models quantized here by onnxruntime's
``quantize_static`` (QDQ, int8 or uint8 activations, per-channel or
per-tensor int8 weights) from torch-style float graphs run on the int8
reference within 1 LSB of onnxruntime per tensor, >= 99% exactly equal (the
oracle has graph optimizations off: mbmicro.formats.onnx_oracle.session);
(3) a QDQ file goes through `mbmicro build` and `mbmicro verify` bit-exact,
with no calibration and its name and SHA-256 in build.json; (4) whatever
cannot be kept exactly is refused in one line naming the node, exit 2.
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
from mbmicro.formats import onnx_import
from mbmicro.formats.onnx_oracle import session
from mbmicro.formats.onnx_qdq import export_qdq
from mbmicro.formats.onnx_qdq_import import CALIBRATION, import_file, import_qdq_model
from mbmicro.models.specs import MODEL_NAMES
from mbmicro.pipeline import make_model, quantize_input, random_input
from mbmicro.reference.int8 import run_int8

from test_onnx_import import Onnx, _refused, _write

from onnxruntime import quantization as ort_quant  # noqa: E402 (a test dependency, as in test_onnx_qdq.py)

#: share of int8 outputs that must equal onnxruntime's exactly (the rest within 1 LSB)
MIN_EXACT = 0.99


# ------------------------------------------------------------------ (1) round trip of the built-in models

@pytest.mark.parametrize("name", MODEL_NAMES)
def test_round_trip_of_every_built_in_model(name):
    _, graph = make_model(name, 0.35, 96, 10)
    _, back = import_qdq_model(export_qdq(graph), name)
    assert [(n.name, n.op, n.inputs, n.outputs) for n in back.nodes] == \
        [(n.name, n.op, n.inputs, n.outputs) for n in graph.nodes]
    assert {k: (t.shape, t.scale, t.zero_point) for k, t in back.tensors.items()} == \
        {k: (t.shape, t.scale, t.zero_point) for k, t in graph.tensors.items()}
    for mine, theirs in zip(back.nodes, graph.nodes):
        assert mine.attrs == theirs.attrs, mine.name
        assert mine.params.keys() == theirs.params.keys(), mine.name
        for key, value in theirs.params.items():
            assert np.array_equal(mine.params[key], value) and mine.params[key].dtype == value.dtype, \
                f"{name} {mine.name}.{key}"
    x = quantize_input(graph, random_input(graph, 1))
    assert np.array_equal(run_int8(back, x), run_int8(graph, x))
    assert back.meta["calibration"] == CALIBRATION


# ------------------------------------------------------------------ (2) onnxruntime quantize_static models

class _Images(ort_quant.CalibrationDataReader):
    """A few seeded random NCHW images: enough for quantize_static's min/max calibration."""

    def __init__(self, shape: tuple[int, ...], count: int = 4):
        rng = np.random.default_rng(11)
        self.batches = iter([{"input": rng.uniform(-1, 1, shape).astype(np.float32)} for _ in range(count)])

    def get_next(self):
        return next(self.batches, None)


def _quantize(tmp_path: Path, model: onnx.ModelProto, per_channel: bool, activations: str = "QInt8",
              **extra) -> onnx.ModelProto:
    """The float model quantized by onnxruntime to QDQ with int8 weights."""
    src, dst = tmp_path / "float.onnx", tmp_path / f"qdq-{per_channel}-{activations}.onnx"
    onnx.save(model, src)
    shape = tuple(d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim)
    ort_quant.quantize_static(str(src), str(dst), _Images(shape), quant_format=ort_quant.QuantFormat.QDQ,
                              activation_type=getattr(ort_quant.QuantType, activations),
                              weight_type=ort_quant.QuantType.QInt8, per_channel=per_channel,
                              extra_options=extra or None)
    return onnx.load(dst)


def _mbconv_net() -> onnx.ModelProto:
    """torch.onnx.export-style MBConv net (BN folded, as the exporter does in eval mode): stem conv + ReLU,
    depthwise + ReLU6, swish as x * sigmoid(x), squeeze-excite with a hard-sigmoid gate, hard-swish,
    a residual Add, global pool, Flatten, Gemm."""
    b = Onnx(shape=(1, 3, 24, 24), opset=14, seed=5)
    x = b.op("Relu", [b.conv("input", 3, 16, 3, stride=2)])
    x = b.relu6(b.conv(x, 16, 16, 3, group=16))
    x = b.op("Mul", [x, b.op("Sigmoid", [x])])
    s = b.op("Relu", [b.conv(b.op("GlobalAveragePool", [x]), 16, 4, 1, pad=0)])
    g = b.op("HardSigmoid", [b.conv(s, 4, 16, 1, pad=0)], alpha=1 / 6, beta=0.5)
    x = b.op("Mul", [g, x])
    h = b.op("HardSwish", [b.conv(x, 16, 24, 1, pad=0)])
    x = b.op("Add", [b.conv(b.conv(h, 24, 24, 5, group=24), 24, 16, 1, pad=0), x])
    return b.model(b.gemm_head(b.op("GlobalAveragePool", [x]), 16))


def _sigmoid_head_net() -> onnx.ModelProto:
    """A plain sigmoid between convs (a lut on calibrated output scales), ReduceMean, Gemm transB=0."""
    b = Onnx(shape=(1, 3, 16, 16), opset=13, seed=6)
    x = b.op("Sigmoid", [b.conv("input", 3, 8, 3, stride=2)])
    x = b.op("Clip", [b.conv(x, 8, 12, 1, pad=0), b.const(np.float32(0))])
    p = b.op("ReduceMean", [x], axes=[2, 3], keepdims=0)
    y = b.op("Gemm", [p, b.const(b.weight(12, 10, fan_in=12)), b.const(np.zeros(10, np.float32))])
    return b.model(y)


def _padded_net() -> onnx.ModelProto:
    """Pads as exporters write them: an asymmetric Pad before a stride-2 conv (TF SAME), and a
    channel Pad before an Add (ReXNet's partial residual); onnxruntime quantizes each Pad's output."""
    b = Onnx(shape=(1, 3, 17, 17), opset=13, seed=8)
    x = b.op("Pad", ["input", b.const(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64))])
    x = b.op("Relu", [b.conv(x, 3, 8, 3, stride=2, pad=0)])
    narrow = b.conv(x, 8, 6, 1, pad=0)
    wide = b.relu6(b.conv(narrow, 6, 8, 1, pad=0))
    y = b.op("Add", [wide, b.op("Pad", [narrow, b.const(np.array([0, 0, 0, 0, 0, 2, 0, 0], np.int64))])])
    return b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 8))


def _split_net() -> onnx.ModelProto:
    """MixConv-style Split into depthwise convs of two kernel sizes (onnxruntime keeps the Split's
    outputs on its input's grid, so the slices do not requantize), joined by an Add."""
    b = Onnx(shape=(1, 3, 16, 16), opset=13, seed=9)
    x = b.op("Relu", [b.conv("input", 3, 16, 3)])
    parts = b.op("Split", [x, b.const(np.array([8, 8], np.int64))], outputs=2, axis=1)
    y = b.op("Add", [b.conv(parts[0], 8, 8, 3, group=8), b.conv(parts[1], 8, 8, 5, group=8)])
    return b.model(b.gemm_head(b.op("GlobalAveragePool", [y]), 8))


def _ort_int8_tensors(qdq: onnx.ModelProto, graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """onnxruntime's int8 value of every IR tensor (uint8 ones shifted by -128), NHWC."""
    names: dict[str, str] = {}
    outs = {o.name for o in qdq.graph.output}
    for q in (n for n in qdq.graph.node if n.op_type == "QuantizeLinear"):
        dq = [n.output[0] for n in qdq.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == q.output[0]]
        for candidate in [q.input[0], *dq]:
            if onnx_import._clean_name(candidate) in graph.tensors:
                names[onnx_import._clean_name(candidate)] = q.output[0]
    probe = onnx.ModelProto()
    probe.CopyFrom(qdq)
    probe.graph.output.extend(helper.make_value_info(v, onnx.TypeProto()) for v in names.values() if v not in outs)
    values = dict(zip([o.name for o in probe.graph.output],
                      session(probe).run(None, {"input": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})))
    out = {}
    for ir, q_name in names.items():
        v = values[q_name].astype(np.int64) - (128 if values[q_name].dtype == np.uint8 else 0)
        out[ir] = v.transpose(0, 2, 3, 1) if v.ndim == 4 else v.reshape(graph.tensors[ir].shape)
    return out


@pytest.mark.parametrize("activations", ["QInt8", "QUInt8"])
@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("net", [_mbconv_net, _sigmoid_head_net, _padded_net, _split_net])
def test_quantize_static_models_match_onnxruntime_per_tensor(net, per_channel, activations, tmp_path):
    qdq = _quantize(tmp_path, net(), per_channel, activations)
    _, graph = import_qdq_model(qdq, "case")
    x = np.random.default_rng(3).uniform(-1, 1, graph.input.shape).astype(np.float32)
    mine = run_int8(graph, quantize_input(graph, x), collect=True)
    theirs = _ort_int8_tensors(qdq, graph, x)
    assert set(theirs) == set(graph.tensors), "every IR tensor is compared"
    total = exact = 0
    for name, want in theirs.items():
        diff = np.abs(mine[name].astype(np.int64).reshape(want.shape) - want)
        assert diff.max() <= 1, f"{name}: {diff.max()} LSB off onnxruntime"
        total, exact = total + diff.size, exact + int((diff == 0).sum())
    end = np.abs(mine[graph.outputs[0]].astype(np.int64).reshape(-1) - theirs[graph.outputs[0]].reshape(-1))
    print(f"{net.__name__} per_channel={per_channel} {activations}: {exact}/{total} int8 values equal "
          f"onnxruntime's; output max diff {end.max()} LSB")
    assert exact >= MIN_EXACT * total


def test_weights_biases_and_grids_are_the_models_own(tmp_path):
    """The int8 weight and int32 bias are the model's initializers, not re-quantized floats."""
    qdq = _quantize(tmp_path, _mbconv_net(), per_channel=True)
    _, graph = import_qdq_model(qdq, "case")
    inits = {t.name: numpy_helper.to_array(t) for t in qdq.graph.initializer}
    stem = graph.nodes[0]
    conv = next(n for n in qdq.graph.node if n.op_type == "Conv")
    w_dq = next(n for n in qdq.graph.node if n.output[0] == conv.input[1])
    b_dq = next(n for n in qdq.graph.node if n.output[0] == conv.input[2])
    assert np.array_equal(stem.params["weight"], inits[w_dq.input[0]].transpose(0, 2, 3, 1))
    assert np.array_equal(stem.params["weight_scale"], inits[w_dq.input[1]])
    assert np.array_equal(stem.params["bias"], inits[b_dq.input[0]])
    q_in = next(n for n in qdq.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "input")
    assert graph.input.scale == float(inits[q_in.input[1]]) and graph.input.zero_point == int(inits[q_in.input[2]])


def test_a_bias_on_another_scale_is_requantized(tmp_path):
    """A bias whose scale is not x_scale * w_scale is put on that scale from its float value."""
    qdq = _quantize(tmp_path, _mbconv_net(), per_channel=False)
    gemm = next(n for n in qdq.graph.node if n.op_type == "Gemm")
    b_dq = next(n for n in qdq.graph.node if n.output[0] == gemm.input[2])
    init = next(t for t in qdq.graph.initializer if t.name == b_dq.input[1])
    scale = numpy_helper.to_array(init) * np.float32(1.01)
    init.CopyFrom(numpy_helper.from_array(scale.astype(np.float32), init.name))
    float_graph, graph = import_qdq_model(qdq, "case")
    fc = graph.nodes[-1]
    sx = graph.tensors[fc.inputs[0]].scale
    want = np.rint(float_graph.nodes[-1].params["bias"].astype(np.float64) / (sx * fc.params["weight_scale"]))
    bias_q = next(numpy_helper.to_array(t) for t in qdq.graph.initializer if t.name == b_dq.input[0])
    assert np.array_equal(fc.params["bias"], want.astype(np.int32))
    assert not np.array_equal(fc.params["bias"], bias_q)


# ------------------------------------------------------------------ (3) the CLI

@pytest.fixture(scope="module")
def qdq_file(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("qdq")
    path = tmp / "tiny-qdq.onnx"
    path.write_bytes(_quantize(tmp, _mbconv_net(), per_channel=True).SerializeToString())
    return path


def test_build_and_verify_a_qdq_file(qdq_file, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["build", "--model", str(qdq_file), "--target", "host", "-o", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err  # no calibration, so no random-calibration warning
    build = json.loads((out / "build.json").read_text())
    assert build["model"] == "tiny-qdq"
    assert build["source"] == {"file": "tiny-qdq.onnx", "sha256": hashlib.sha256(qdq_file.read_bytes()).hexdigest()}
    assert main(["verify", str(out)]) == 0
    assert "bit-exact" in capsys.readouterr().out


def test_a_float_file_still_takes_the_float_importer(tmp_path):
    float_graph, int8_graph = import_file(_write(tmp_path, _mbconv_net(), "float.onnx"))
    assert int8_graph is None and not float_graph.is_quantized


# ------------------------------------------------------------------ (4) refusals: one line, exit 2

def test_calibration_with_a_qdq_file_is_refused(qdq_file, tmp_path, capsys):
    np.save(tmp_path / "cal.npy", np.zeros((2, 24, 24, 3), np.float32))
    line = _refused(capsys, tmp_path, qdq_file, "--calibration", str(tmp_path / "cal.npy"))
    assert "QDQ" in line and "fixed scales" in line and "drop --calibration" in line


def test_concat_inputs_on_other_grids_are_refused(tmp_path, capsys):
    b = Onnx(seed=2)
    x = b.op("Relu", [b.conv("input", 3, 8, 3)])
    y = b.op("Concat", [b.conv(x, 8, 8, 1, pad=0), b.conv(x, 8, 4, 3)], axis=1)
    line = _refused(capsys, tmp_path, _write(tmp_path, _quantize(tmp_path, b.model(b.op("GlobalAveragePool", [y])),
                                                                 True)))
    assert "(Concat)" in line and "different grids" in line


def test_an_op_without_an_int8_kernel_is_refused(tmp_path, capsys):
    b = Onnx(seed=2)
    x = b.op("MaxPool", [b.op("Relu", [b.conv("input", 3, 8, 3)])], kernel_shape=[2, 2], strides=[2, 2])
    line = _refused(capsys, tmp_path, _write(tmp_path, _quantize(tmp_path, b.model(b.op("GlobalAveragePool", [x])),
                                                                 True)))
    assert "(MaxPool) has no int8 kernel" in line and "Conv" in line


def test_a_rounding_inside_a_fused_op_is_refused(tmp_path, capsys):
    """onnxruntime keeping the Relu after a conv rounds twice; mbmicro's conv+relu rounds once."""
    b = Onnx(seed=2)
    x = b.op("Relu", [b.conv("input", 3, 8, 3)])
    qdq = _quantize(tmp_path, b.model(b.op("GlobalAveragePool", [x])), True, QDQKeepRemovableActivations=True)
    line = _refused(capsys, tmp_path, _write(tmp_path, qdq))
    assert "(QuantizeLinear)" in line and "layers.1/Conv" in line and "one int8 op" in line


def _hand_qdq(weight_axis: int = 0, act_q: bool = True, act_scales: int = 1,
              float_weight: bool = False) -> onnx.ModelProto:
    """Q/DQ input -> Conv (int8 weight DQ'd along ``weight_axis``, or a float one) -> Q/DQ (``act_q``,
    ``act_scales`` scales) -> output."""
    b = Onnx(shape=(1, 3, 8, 8), seed=4)
    s, z = b.const(np.float32(0.01)), b.const(np.int8(0))
    x = b.op("DequantizeLinear", [b.op("QuantizeLinear", ["input", s, z]), s, z])
    w = np.random.default_rng(0).integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    n = w.shape[weight_axis]
    w_dq = b.op("DequantizeLinear", [b.const(w), b.const(np.full(n, 0.02, np.float32)), b.const(np.zeros(n, np.int8))],
                axis=weight_axis)
    if float_weight:
        w_dq = b.const(w.astype(np.float32) * np.float32(0.02))
    y = b.op("Conv", [x, w_dq], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    if act_q:
        ys = b.const(np.full(act_scales, 0.05, np.float32) if act_scales > 1 else np.float32(0.05))
        yz = b.const(np.zeros(act_scales, np.int8) if act_scales > 1 else np.int8(0))
        kw = {"axis": 1} if act_scales > 1 else {}
        y = b.op("DequantizeLinear", [b.op("QuantizeLinear", [y, ys, yz], **kw), ys, yz], **kw)
    return b.model(y)


def test_the_hand_built_qdq_model_imports():
    """The base of the refusal cases below is itself importable (so each refusal is about its one change)."""
    _, graph = import_qdq_model(_hand_qdq(), "hand")
    assert [n.op for n in graph.nodes] == ["conv2d"] and graph.output.scale == np.float32(0.05)


@pytest.mark.parametrize("case, expected", [
    (dict(weight_axis=1), "(Conv): its weight is quantized per axis 1: only per-tensor or per-output-channel (axis 0)"),
    (dict(act_q=False), "(Conv): its output 'layers.4/Conv' has no QuantizeLinear"),
    (dict(act_scales=4), "(QuantizeLinear): quantizes an activation per axis (4 scales)"),
    (dict(float_weight=True), "(Conv): its weight 'onnx::c5' is not an int8 initializer read by a DequantizeLinear"),
])
def test_what_cannot_be_kept_exactly_is_refused(case, expected, tmp_path, capsys):
    assert expected in _refused(capsys, tmp_path, _write(tmp_path, _hand_qdq(**case)))


def test_an_integer_op_model_is_refused(tmp_path, capsys):
    b = Onnx()
    s, z = b.const(np.float32(0.01)), b.const(np.int8(0))
    q = b.op("QuantizeLinear", ["input", s, z])
    y = b.op("DequantizeLinear", [b.op("QLinearMatMul", [q, s, z, q, s, z, s, z]), s, z])
    line = _refused(capsys, tmp_path, _write(tmp_path, onnx_unchecked(b, y)))
    assert "(QLinearMatMul)" in line and "reads QDQ models" in line


def onnx_unchecked(b: Onnx, out: str) -> onnx.ModelProto:
    x = helper.make_tensor_value_info(b.input, TensorProto.FLOAT, list(b.shape))
    y = helper.make_tensor_value_info(out, TensorProto.FLOAT, None)
    return helper.make_model(helper.make_graph(b.nodes, "t", [x], [y], initializer=b.inits),
                             opset_imports=[helper.make_opsetid("", 13)])


def test_a_pad_output_on_another_grid_is_refused(tmp_path, capsys):
    """mbmicro's conv pads with its input's zero point: a Pad requantizing its input cannot fold."""
    qdq = _quantize(tmp_path, _padded_net(), True)
    pad = next(n for n in qdq.graph.node if n.op_type == "Pad")
    scale = next(t for t in qdq.graph.initializer
                 if t.name == next(n for n in qdq.graph.node if n.op_type == "QuantizeLinear"
                                   and n.input[0] == pad.output[0]).input[1])
    qdq.graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(scale) * np.float32(2), "pad.scale"))
    for n in qdq.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and pad.output[0] in n.input[0]:
            n.input[1] = "pad.scale"
    line = _refused(capsys, tmp_path, _write(tmp_path, qdq))
    assert "(QuantizeLinear)" in line and "another scale or zero point than the Pad's input" in line


def test_an_int8_input_without_a_quantizelinear_is_refused(tmp_path, capsys):
    """mbmicro's own io="int8" export starts from an int8 input: a DequantizeLinear with no Q before it."""
    _, graph = make_model("mobilenetv2", 0.35, 96, 10)
    line = _refused(capsys, tmp_path, _write(tmp_path, export_qdq(graph, io="int8")))
    assert "(DequantizeLinear)" in line and "which no QuantizeLinear writes" in line


def test_a_view_on_another_grid_is_refused(tmp_path, capsys):
    """Flatten cannot requantize: its output must keep the pooled tensor's grid."""
    qdq = _quantize(tmp_path, _mbconv_net(), True)
    flat = next(n for n in qdq.graph.node if n.op_type == "Flatten")
    qdq.graph.initializer.append(numpy_helper.from_array(np.float32(0.5), "flat.scale"))
    for n in qdq.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[0].startswith(flat.output[0]):
            n.input[1] = "flat.scale"
    line = _refused(capsys, tmp_path, _write(tmp_path, qdq))
    assert "(QuantizeLinear)" in line and "Flatten" in line and "a reshape or identity cannot requantize" in line
