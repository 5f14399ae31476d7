"""Write the small full-integer int8 .tflite models under tests/data/tflite/.

Provenance: every file there is written by this script and nothing else (no
TensorFlow, no converter): the flatbuffers are assembled with the generated
builder functions of the PyPI ``tflite`` package (ModelStart, SubGraphStart,
TensorStart, ...) on a ``flatbuffers.Builder``; weights are int8 drawn from
``numpy.random.default_rng(SEED + model index)``, biases int32, per-channel
weight scales, activation scales and zero points chosen by hand below.  Each
file's description string names this script and its seed.  The same script
run again writes the same bytes.

    python tests/data/make_tflite.py            # (re)writes tests/data/tflite/*.tflite

Why hand-built files: the importer and the TFLite Micro oracle then see
exactly the operators and quantization the tests name, at 16-32 px, in a few
kilobytes each.
"""

from __future__ import annotations

import sys
from pathlib import Path

import flatbuffers
import numpy as np
from tflite.ActivationFunctionType import ActivationFunctionType as Act
from tflite.AddOptions import AddOptionsAddFusedActivationFunction, AddOptionsEnd, AddOptionsStart
from tflite.Buffer import BufferAddData, BufferEnd, BufferStart
from tflite.BuiltinOperator import BuiltinOperator as Op
from tflite.BuiltinOptions import BuiltinOptions as Opt
from tflite.ConcatenationOptions import (ConcatenationOptionsAddAxis, ConcatenationOptionsEnd,
                                         ConcatenationOptionsStart)
from tflite.Conv2DOptions import (Conv2DOptionsAddFusedActivationFunction, Conv2DOptionsAddPadding,
                                  Conv2DOptionsAddStrideH, Conv2DOptionsAddStrideW, Conv2DOptionsEnd,
                                  Conv2DOptionsStart)
from tflite.DepthwiseConv2DOptions import (DepthwiseConv2DOptionsAddDepthMultiplier,
                                           DepthwiseConv2DOptionsAddFusedActivationFunction,
                                           DepthwiseConv2DOptionsAddPadding, DepthwiseConv2DOptionsAddStrideH,
                                           DepthwiseConv2DOptionsAddStrideW, DepthwiseConv2DOptionsEnd,
                                           DepthwiseConv2DOptionsStart)
from tflite.FullyConnectedOptions import (FullyConnectedOptionsAddFusedActivationFunction,
                                          FullyConnectedOptionsEnd, FullyConnectedOptionsStart)
from tflite.Model import (ModelAddBuffers, ModelAddDescription, ModelAddOperatorCodes, ModelAddSubgraphs,
                          ModelAddVersion, ModelEnd, ModelStart)
from tflite.Operator import (OperatorAddBuiltinOptions, OperatorAddBuiltinOptionsType, OperatorAddInputs,
                             OperatorAddOpcodeIndex, OperatorAddOutputs, OperatorEnd, OperatorStart)
from tflite.OperatorCode import (OperatorCodeAddBuiltinCode, OperatorCodeAddDeprecatedBuiltinCode,
                                 OperatorCodeAddVersion, OperatorCodeEnd, OperatorCodeStart)
from tflite.Padding import Padding
from tflite.Pool2DOptions import (Pool2DOptionsAddFilterHeight, Pool2DOptionsAddFilterWidth,
                                  Pool2DOptionsAddFusedActivationFunction, Pool2DOptionsAddPadding,
                                  Pool2DOptionsAddStrideH, Pool2DOptionsAddStrideW, Pool2DOptionsEnd,
                                  Pool2DOptionsStart)
from tflite.QuantizationParameters import (QuantizationParametersAddQuantizedDimension,
                                           QuantizationParametersAddScale, QuantizationParametersAddZeroPoint,
                                           QuantizationParametersEnd, QuantizationParametersStart)
from tflite.ReducerOptions import ReducerOptionsAddKeepDims, ReducerOptionsEnd, ReducerOptionsStart
from tflite.ReshapeOptions import ReshapeOptionsEnd, ReshapeOptionsStart
from tflite.SoftmaxOptions import SoftmaxOptionsAddBeta, SoftmaxOptionsEnd, SoftmaxOptionsStart
from tflite.SubGraph import (SubGraphAddInputs, SubGraphAddName, SubGraphAddOperators, SubGraphAddOutputs,
                             SubGraphAddTensors, SubGraphEnd, SubGraphStart)
from tflite.Tensor import (TensorAddBuffer, TensorAddName, TensorAddQuantization, TensorAddShape, TensorAddType,
                           TensorEnd, TensorStart)
from tflite.TensorType import TensorType

SEED = 2026
OUT = Path(__file__).resolve().parent / "tflite"
_NP_TYPE = {TensorType.INT8: np.int8, TensorType.INT32: np.int32, TensorType.FLOAT32: np.float32}


class ModelWriter:
    """Collects tensors, buffers and operators, then serializes one subgraph model."""

    def __init__(self, name: str, index: int):
        self.name = name
        self.rng = np.random.default_rng(SEED + index)
        self.description = f"mbmicro test model {name}: written by tests/data/make_tflite.py, seed {SEED + index}"
        self.tensors: list[dict] = []
        self.buffers: list[bytes] = [b""]  # buffer 0: the empty buffer by convention
        self.codes: list[int] = []
        self.ops: list[tuple] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def tensor(self, name, shape, ttype=TensorType.INT8, scale=None, zp=None, data=None, qdim=0) -> int:
        buf = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data, dtype=_NP_TYPE[ttype]).tobytes())
            buf = len(self.buffers) - 1
        scales = None if scale is None else [float(s) for s in np.atleast_1d(scale)]
        zps = None if scale is None else [int(z) for z in np.broadcast_to(zp if zp is not None else 0, (len(scales),))]
        self.tensors.append(dict(name=name, shape=list(shape), type=ttype, buffer=buf, scale=scales, zp=zps,
                                 qdim=qdim))
        return len(self.tensors) - 1

    def act(self, name, shape, scale, zp) -> int:
        return self.tensor(name, shape, scale=scale, zp=zp)

    def op(self, code: int, inputs, outputs, options=None) -> None:
        if code not in self.codes:
            self.codes.append(code)
        self.ops.append((self.codes.index(code), list(inputs), list(outputs), options))

    # -- weighted layers ------------------------------------------------
    def _weights(self, shape, n_out, x_scale):
        w = self.rng.integers(-127, 128, size=shape).astype(np.int8)
        w_scale = self.rng.uniform(0.002, 0.02, n_out).astype(np.float32)
        b_scale = (np.float32(x_scale) * w_scale).astype(np.float32)
        bias = self.rng.integers(-3000, 3000, n_out).astype(np.int32)
        return w, w_scale, b_scale, bias

    def conv(self, x, x_scale, shape_in, cout, k, stride, padding, act, y_scale, y_zp, name):
        n, h, w, cin = shape_in
        wt, ws, bs, bias = self._weights((cout, k, k, cin), cout, x_scale)
        wi = self.tensor(name + "/w", wt.shape, scale=ws, zp=0, data=wt, qdim=0)
        bi = self.tensor(name + "/b", (cout,), TensorType.INT32, scale=bs, zp=0, data=bias)
        oh, ow = _out(h, k, stride, padding), _out(w, k, stride, padding)
        y = self.act(name, (1, oh, ow, cout), y_scale, y_zp)
        self.op(Op.CONV_2D, [x, wi, bi], [y], ("conv", padding, stride, act))
        return y, (1, oh, ow, cout)

    def depthwise(self, x, x_scale, shape_in, k, stride, padding, act, y_scale, y_zp, name):
        n, h, w, c = shape_in
        wt, ws, bs, bias = self._weights((1, k, k, c), c, x_scale)
        wi = self.tensor(name + "/w", wt.shape, scale=ws, zp=0, data=wt, qdim=3)
        bi = self.tensor(name + "/b", (c,), TensorType.INT32, scale=bs, zp=0, data=bias)
        oh, ow = _out(h, k, stride, padding), _out(w, k, stride, padding)
        y = self.act(name, (1, oh, ow, c), y_scale, y_zp)
        self.op(Op.DEPTHWISE_CONV_2D, [x, wi, bi], [y], ("dw", padding, stride, act))
        return y, (1, oh, ow, c)

    def fc(self, x, x_scale, cin, n, act, y_scale, y_zp, name):
        wt = self.rng.integers(-127, 128, size=(n, cin)).astype(np.int8)
        ws = np.float32(self.rng.uniform(0.002, 0.02))
        bias = self.rng.integers(-3000, 3000, n).astype(np.int32)
        wi = self.tensor(name + "/w", wt.shape, scale=ws, zp=0, data=wt)
        bi = self.tensor(name + "/b", (n,), TensorType.INT32, scale=np.float32(x_scale) * ws, zp=0, data=bias)
        y = self.act(name, (1, n), y_scale, y_zp)
        self.op(Op.FULLY_CONNECTED, [x, wi, bi], [y], ("fc", act))
        return y

    # -- serialization --------------------------------------------------
    def finish(self) -> bytes:
        b = flatbuffers.Builder(4096)
        desc = b.CreateString(self.description)
        buffers = []
        for data in self.buffers:
            vec = b.CreateByteVector(data) if data else None
            BufferStart(b)
            if vec is not None:
                BufferAddData(b, vec)
            buffers.append(BufferEnd(b))
        tensors = [self._tensor(b, t) for t in self.tensors]
        ops = [self._operator(b, *op) for op in self.ops]
        codes = []
        for code in self.codes:
            OperatorCodeStart(b)
            OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            OperatorCodeAddBuiltinCode(b, code)
            OperatorCodeAddVersion(b, 1)
            codes.append(OperatorCodeEnd(b))
        sg_name = b.CreateString(self.name)
        t_vec, o_vec = _vector(b, tensors), _vector(b, ops)
        i_vec, out_vec = b.CreateNumpyVector(np.array(self.inputs, np.int32)), b.CreateNumpyVector(
            np.array(self.outputs, np.int32))
        SubGraphStart(b)
        SubGraphAddTensors(b, t_vec)
        SubGraphAddInputs(b, i_vec)
        SubGraphAddOutputs(b, out_vec)
        SubGraphAddOperators(b, o_vec)
        SubGraphAddName(b, sg_name)
        sg = SubGraphEnd(b)
        c_vec, s_vec, b_vec = _vector(b, codes), _vector(b, [sg]), _vector(b, buffers)
        ModelStart(b)
        ModelAddVersion(b, 3)
        ModelAddOperatorCodes(b, c_vec)
        ModelAddSubgraphs(b, s_vec)
        ModelAddDescription(b, desc)
        ModelAddBuffers(b, b_vec)
        b.Finish(ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _tensor(b, t):
        name = b.CreateString(t["name"])
        shape = b.CreateNumpyVector(np.array(t["shape"], np.int32))
        q = None
        if t["scale"] is not None:
            sv = b.CreateNumpyVector(np.array(t["scale"], np.float32))
            zv = b.CreateNumpyVector(np.array(t["zp"], np.int64))
            QuantizationParametersStart(b)
            QuantizationParametersAddScale(b, sv)
            QuantizationParametersAddZeroPoint(b, zv)
            QuantizationParametersAddQuantizedDimension(b, t["qdim"])
            q = QuantizationParametersEnd(b)
        TensorStart(b)
        TensorAddShape(b, shape)
        TensorAddType(b, t["type"])
        TensorAddBuffer(b, t["buffer"])
        TensorAddName(b, name)
        if q is not None:
            TensorAddQuantization(b, q)
        return TensorEnd(b)

    @staticmethod
    def _operator(b, code_index, inputs, outputs, options):
        kind, offset = _options(b, options)
        iv = b.CreateNumpyVector(np.array(inputs, np.int32))
        ov = b.CreateNumpyVector(np.array(outputs, np.int32))
        OperatorStart(b)
        OperatorAddOpcodeIndex(b, code_index)
        OperatorAddInputs(b, iv)
        OperatorAddOutputs(b, ov)
        if offset is not None:
            OperatorAddBuiltinOptionsType(b, kind)
            OperatorAddBuiltinOptions(b, offset)
        return OperatorEnd(b)


def _vector(b, offsets):
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _out(size, k, stride, padding):
    return -(-size // stride) if padding == Padding.SAME else (size - k) // stride + 1


def _options(b, options):
    """(BuiltinOptions type, offset) of one operator's options tuple (None: no options)."""
    if options is None:
        return 0, None
    kind = options[0]
    if kind == "conv":
        _, pad, stride, act = options
        Conv2DOptionsStart(b)
        Conv2DOptionsAddPadding(b, pad)
        Conv2DOptionsAddStrideW(b, stride)
        Conv2DOptionsAddStrideH(b, stride)
        Conv2DOptionsAddFusedActivationFunction(b, act)
        return Opt.Conv2DOptions, Conv2DOptionsEnd(b)
    if kind == "dw":
        _, pad, stride, act = options
        DepthwiseConv2DOptionsStart(b)
        DepthwiseConv2DOptionsAddPadding(b, pad)
        DepthwiseConv2DOptionsAddStrideW(b, stride)
        DepthwiseConv2DOptionsAddStrideH(b, stride)
        DepthwiseConv2DOptionsAddDepthMultiplier(b, 1)
        DepthwiseConv2DOptionsAddFusedActivationFunction(b, act)
        return Opt.DepthwiseConv2DOptions, DepthwiseConv2DOptionsEnd(b)
    if kind == "fc":
        FullyConnectedOptionsStart(b)
        FullyConnectedOptionsAddFusedActivationFunction(b, options[1])
        return Opt.FullyConnectedOptions, FullyConnectedOptionsEnd(b)
    if kind == "add":
        AddOptionsStart(b)
        AddOptionsAddFusedActivationFunction(b, options[1])
        return Opt.AddOptions, AddOptionsEnd(b)
    if kind == "mean":
        ReducerOptionsStart(b)
        ReducerOptionsAddKeepDims(b, options[1])
        return Opt.ReducerOptions, ReducerOptionsEnd(b)
    if kind == "pool":
        _, fh, fw, act = options
        Pool2DOptionsStart(b)
        Pool2DOptionsAddPadding(b, Padding.VALID)
        Pool2DOptionsAddStrideW(b, 1)
        Pool2DOptionsAddStrideH(b, 1)
        Pool2DOptionsAddFilterWidth(b, fw)
        Pool2DOptionsAddFilterHeight(b, fh)
        Pool2DOptionsAddFusedActivationFunction(b, act)
        return Opt.Pool2DOptions, Pool2DOptionsEnd(b)
    if kind == "concat":
        ConcatenationOptionsStart(b)
        ConcatenationOptionsAddAxis(b, 3)
        return Opt.ConcatenationOptions, ConcatenationOptionsEnd(b)
    if kind == "reshape":
        ReshapeOptionsStart(b)
        return Opt.ReshapeOptions, ReshapeOptionsEnd(b)
    if kind == "softmax":
        SoftmaxOptionsStart(b)
        SoftmaxOptionsAddBeta(b, options[1])
        return Opt.SoftmaxOptions, SoftmaxOptionsEnd(b)
    raise ValueError(kind)


# -- the models ---------------------------------------------------------------

def conv_same(m: ModelWriter):
    """CONV_2D 3x3 stride 2 SAME with fused ReLU6 on a 16x16x3 input."""
    x = m.act("input", (1, 16, 16, 3), 0.02, -3)
    m.inputs = [x]
    y, _ = m.conv(x, 0.02, (1, 16, 16, 3), 8, 3, 2, Padding.SAME, Act.RELU6, 0.03, -128, "conv")
    m.outputs = [y]


def pad_depthwise(m: ModelWriter):
    """PAD (folded into the next layer) then DEPTHWISE_CONV_2D 3x3 VALID, then a VALID 1x1 CONV_2D."""
    x = m.act("input", (1, 16, 16, 8), 0.05, 5)
    pads = m.tensor("pad/paddings", (4, 2), TensorType.INT32, data=np.array([[0, 0], [1, 1], [1, 1], [0, 0]]))
    p = m.act("pad", (1, 18, 18, 8), 0.05, 5)
    m.op(Op.PAD, [x, pads], [p])
    d, shape = m.depthwise(p, 0.05, (1, 18, 18, 8), 3, 1, Padding.VALID, Act.RELU, 0.04, -120, "dw")
    y, _ = m.conv(d, 0.04, shape, 12, 1, 1, Padding.VALID, Act.NONE, 0.06, 7, "pw")
    m.inputs, m.outputs = [x], [y]


def mean_fc(m: ModelWriter):
    """MEAN over H, W without keep_dims (output (1, C)) -> FULLY_CONNECTED 16 -> 10 with ReLU."""
    x = m.act("input", (1, 8, 8, 16), 0.07, -10)
    axes = m.tensor("mean/axes", (2,), TensorType.INT32, data=np.array([1, 2]))
    g = m.act("mean", (1, 16), 0.031, 3)
    m.op(Op.MEAN, [x, axes], [g], ("mean", False))
    y = m.fc(g, 0.031, 16, 10, Act.RELU, 0.09, -4, "fc")
    m.inputs, m.outputs = [x], [y]


def avgpool(m: ModelWriter):
    """AVERAGE_POOL_2D over the whole 7x7 map (a global pool), same qparams in and out."""
    x = m.act("input", (1, 7, 7, 12), 0.05, -17)
    y = m.act("pool", (1, 1, 1, 12), 0.05, -17)
    m.op(Op.AVERAGE_POOL_2D, [x], [y], ("pool", 7, 7, Act.NONE))
    m.inputs, m.outputs = [x], [y]


def quant_edges(m: ModelWriter):
    """float32 in -> QUANTIZE -> CONV_2D -> DEQUANTIZE -> float32 out."""
    xf = m.tensor("input", (1, 12, 12, 3), TensorType.FLOAT32)
    x = m.act("input_q", (1, 12, 12, 3), 0.0078125, 0)
    m.op(Op.QUANTIZE, [xf], [x])
    y, shape = m.conv(x, 0.0078125, (1, 12, 12, 3), 6, 3, 1, Padding.SAME, Act.NONE, 0.05, 2, "conv")
    yf = m.tensor("output", shape, TensorType.FLOAT32)
    m.op(Op.DEQUANTIZE, [y], [yf])
    m.inputs, m.outputs = [xf], [yf]


def mbconv_net(m: ModelWriter):
    """A small MBConv network at 32 px: stem conv, expand 1x1, depthwise, project 1x1 + ADD residual,
    HARD_SWISH, strided depthwise, 1x1 head, MEAN, RESHAPE, FULLY_CONNECTED."""
    x = m.act("input", (1, 32, 32, 3), 0.02, 0)
    s, shape = m.conv(x, 0.02, (1, 32, 32, 3), 16, 3, 2, Padding.SAME, Act.RELU6, 0.025, -128, "stem")
    e, eshape = m.conv(s, 0.025, shape, 48, 1, 1, Padding.SAME, Act.RELU6, 0.022, -128, "b1/expand")
    d, dshape = m.depthwise(e, 0.022, eshape, 3, 1, Padding.SAME, Act.RELU6, 0.021, -128, "b1/dw")
    p, _ = m.conv(d, 0.021, dshape, 16, 1, 1, Padding.SAME, Act.NONE, 0.04, 6, "b1/project")
    a = m.act("b1/add", shape, 0.045, -5)
    m.op(Op.ADD, [p, s], [a], ("add", Act.NONE))
    r = m.act("b1/hswish", shape, 0.03, -40)
    m.op(Op.HARD_SWISH, [a], [r])
    d2, d2shape = m.depthwise(r, 0.03, shape, 3, 2, Padding.SAME, Act.RELU, 0.03, -128, "b2/dw")
    h, hshape = m.conv(d2, 0.03, d2shape, 32, 1, 1, Padding.SAME, Act.RELU6, 0.024, -128, "head")
    axes = m.tensor("pool/axes", (2,), TensorType.INT32, data=np.array([1, 2]))
    g = m.act("pool", (1, 1, 1, 32), 0.012, -128)
    m.op(Op.MEAN, [h, axes], [g], ("mean", True))
    shp = m.tensor("flatten/shape", (2,), TensorType.INT32, data=np.array([1, 32]))
    f = m.act("flatten", (1, 32), 0.012, -128)
    m.op(Op.RESHAPE, [g, shp], [f], ("reshape",))
    y = m.fc(f, 0.012, 32, 10, Act.NONE, 0.1, 0, "classifier")
    m.inputs, m.outputs = [x], [y]


def se_concat(m: ModelWriter):
    """Squeeze-and-excitation (MEAN, 1x1 CONV_2D, LOGISTIC, MUL by the channel gate) and a
    CONCATENATION of two 1x1 branches, at 16 px."""
    x = m.act("input", (1, 16, 16, 8), 0.04, -7)
    a, shape = m.conv(x, 0.04, (1, 16, 16, 8), 12, 3, 1, Padding.SAME, Act.NONE, 0.05, 3, "conv")
    h = m.act("hswish", shape, 0.035, -50)
    m.op(Op.HARD_SWISH, [a], [h])
    axes = m.tensor("se/axes", (2,), TensorType.INT32, data=np.array([1, 2]))
    g = m.act("se/mean", (1, 1, 1, 12), 0.02, -100)
    m.op(Op.MEAN, [h, axes], [g], ("mean", True))
    z, _ = m.conv(g, 0.02, (1, 1, 1, 12), 12, 1, 1, Padding.SAME, Act.NONE, 0.06, 4, "se/fc")
    gate = m.act("se/gate", (1, 1, 1, 12), 1.0 / 256.0, -128)
    m.op(Op.LOGISTIC, [z], [gate])
    se = m.act("se/mul", shape, 0.03, -60)
    m.op(Op.MUL, [h, gate], [se])
    b1, s1 = m.conv(se, 0.03, shape, 6, 1, 1, Padding.SAME, Act.RELU, 0.04, -128, "branch1")
    b2, s2 = m.conv(se, 0.03, shape, 10, 1, 1, Padding.SAME, Act.RELU, 0.04, -128, "branch2")
    y = m.act("concat", (1, 16, 16, 16), 0.04, -128)
    m.op(Op.CONCATENATION, [b1, b2], [y], ("concat",))
    m.inputs, m.outputs = [x], [y]


def softmax_only(m: ModelWriter, classes: int, scale: float, zp: int, beta: float) -> None:
    """(1, classes) int8 logits -> SOFTMAX(beta) -> (1, classes) at TFLite's fixed 1/256, -128
    (tests build these in memory over many scales and betas)."""
    x = m.act("logits", (1, classes), scale, zp)
    y = m.act("probs", (1, classes), 1.0 / 256.0, -128)
    m.op(Op.SOFTMAX, [x], [y], ("softmax", beta))
    m.inputs, m.outputs = [x], [y]


def softmax_classifier(m: ModelWriter):
    """A classifier that ends as Keras exports do: stem conv, depthwise, 1x1, MEAN, FULLY_CONNECTED
    to 10 logits, SOFTMAX (beta 1) at scale 1/256, zero point -128, at 16 px."""
    x = m.act("input", (1, 16, 16, 3), 0.02, 0)
    s, shape = m.conv(x, 0.02, (1, 16, 16, 3), 12, 3, 2, Padding.SAME, Act.RELU6, 0.025, -128, "stem")
    d, dshape = m.depthwise(s, 0.025, shape, 3, 1, Padding.SAME, Act.RELU6, 0.021, -128, "dw")
    h, hshape = m.conv(d, 0.021, dshape, 24, 1, 1, Padding.SAME, Act.RELU6, 0.024, -128, "head")
    axes = m.tensor("pool/axes", (2,), TensorType.INT32, data=np.array([1, 2]))
    g = m.act("pool", (1, 24), 0.012, -128)
    m.op(Op.MEAN, [h, axes], [g], ("mean", False))
    logits = m.fc(g, 0.012, 24, 10, Act.NONE, 0.08, 3, "classifier")
    y = m.act("probs", (1, 10), 1.0 / 256.0, -128)
    m.op(Op.SOFTMAX, [logits], [y], ("softmax", 1.0))
    m.inputs, m.outputs = [x], [y]


MODELS = [conv_same, pad_depthwise, mean_fc, avgpool, quant_edges, mbconv_net, se_concat, softmax_classifier]


def build(index: int) -> tuple[str, bytes]:
    make = MODELS[index]
    writer = ModelWriter(make.__name__, index)
    make(writer)
    return make.__name__, writer.finish()


def main(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i in range(len(MODELS)):
        name, data = build(i)
        (out / f"{name}.tflite").write_bytes(data)
        print(f"wrote {out / name}.tflite ({len(data)} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
