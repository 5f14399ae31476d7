"""Full-integer int8 .tflite -> int8 Graph, bit-exact with TensorFlow Lite Micro.

Why an int8 importer (no float graph, no calibration): a converted .tflite
already holds its quantization; re-quantizing would change every byte.  The
graph keeps every scale exactly (float32 in the file, float64 here) and is
marked ``meta["requant"] = "tflite"``, so the reference and the kernels
round as TFLite does (mbmicro.reference.arith.requantize_tflite); each
multiplier/shift is computed from the scales in the order TFLite Micro's
Prepare functions use, in double, with QuantizeMultiplier (frexp, std::round).

Mapped operators (docs/TFLITE_IMPORT.md): CONV_2D, DEPTHWISE_CONV_2D
(multiplier 1), FULLY_CONNECTED, ADD (same shapes), MUL (channel gate),
HARD_SWISH and LOGISTIC (int8 tables made with TFLite's integer algorithms),
MEAN over H and W, AVERAGE_POOL_2D over the whole map, RESHAPE between
(1, C) and (1, 1, 1, C), CONCATENATION on channels, PAD folded into the
convolution that reads it, QUANTIZE at the input and DEQUANTIZE at the
output, and SOFTMAX over channels (TFLite's fixed-point int8 softmax, output
scale 1/256, zero point -128).  Anything else is refused with one line naming
the operator.  The file is read with the ``tflite``
package's generated flatbuffer readers; TensorFlow is not needed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mbmicro.errors import UserError
from mbmicro.graph.files import FileFormatError, describe_os_error, open_regular
from mbmicro.graph.ir import Graph, Node, Tensor, same_padding
from mbmicro.models.options import file_model_name
from mbmicro.reference.arith import (INT8_MAX, INT8_MIN, SOFTMAX_OUTPUT_QPARAMS, quantize_multiplier_tflite,
                                     tflite_mean_multiplier, tflite_round, tflite_softmax_params)
from mbmicro.units import format_bytes

MAX_MODEL_BYTES = 1 << 30
_FIX = "pass a full-integer int8 .tflite (TFLiteConverter with inference_input_type/output_type int8)"


def _fail(path, problem: str, fix: str = _FIX) -> UserError:
    return UserError(f"model file {path} {problem}; {fix}")


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes: a regular file only, at most MAX_MODEL_BYTES, checked before reading."""
    try:
        with open_regular(Path(path)) as (fp, size):
            if size > MAX_MODEL_BYTES:
                raise FileFormatError(f"it is {format_bytes(size)}, more than the limit of {format_bytes(MAX_MODEL_BYTES)}")
            return fp.read(MAX_MODEL_BYTES + 1)
    except OSError as exc:
        raise _fail(path, describe_os_error(exc)) from None
    except FileFormatError as exc:
        raise _fail(path, f"cannot be read ({exc})") from None


@dataclass
class _T:
    """One flatbuffer tensor as the importer needs it."""

    name: str
    shape: tuple[int, ...]
    ttype: int
    buffer: int
    scale: np.ndarray | None
    zero_point: np.ndarray | None


class _Reader:
    """Parses the flatbuffer into plain Python values; any fault of a damaged file is one UserError."""

    def __init__(self, data: bytes, path):
        from tflite.Model import Model
        from tflite.BuiltinOperator import BuiltinOperator

        self.path = path
        if len(data) < 8 or not Model.ModelBufferHasIdentifier(data, 0):
            raise _fail(path, "is not a TFLite model (no TFL3 identifier: truncated or another format)")
        self.op_names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
        try:
            self._parse(Model.GetRootAsModel(data, 0))
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged flatbuffer raises anything from struct to IndexError
            raise _fail(path, f"is not a readable TFLite model (truncated or damaged: {type(exc).__name__})") from None

    def _parse(self, model) -> None:
        if model.SubgraphsLength() != 1:
            raise _fail(self.path, f"has {model.SubgraphsLength()} subgraphs", "pass a model with one subgraph")
        self.description = (model.Description() or b"").decode("utf-8", "replace")
        codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            codes.append(max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode())))
        self.buffers = []
        for i in range(model.BuffersLength()):
            b = model.Buffers(i)
            self.buffers.append(b.DataAsNumpy().tobytes() if b.DataLength() else b"")
        sg = model.Subgraphs(0)
        self.tensors = [self._tensor(sg.Tensors(i)) for i in range(sg.TensorsLength())]
        self.inputs = [int(v) for v in sg.InputsAsNumpy()] if sg.InputsLength() else []
        self.outputs = [int(v) for v in sg.OutputsAsNumpy()] if sg.OutputsLength() else []
        self.ops = []
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            name = self.op_names.get(codes[op.OpcodeIndex()], f"custom op {codes[op.OpcodeIndex()]}")
            ins = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
            outs = [int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else []
            self.ops.append((name, ins, outs, op))

    @staticmethod
    def _tensor(t) -> _T:
        q = t.Quantization()
        scale = zp = None
        if q is not None and q.ScaleLength():
            scale = q.ScaleAsNumpy().astype(np.float64)
            zp = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(scale.size, np.int64)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        return _T((t.Name() or b"").decode("utf-8", "replace"), shape, int(t.Type()), int(t.Buffer()), scale, zp)

    def data(self, index: int, dtype) -> np.ndarray:
        """A constant tensor's values in its shape."""
        t = self.tensors[index]
        raw = self.buffers[t.buffer] if 0 <= t.buffer < len(self.buffers) else b""
        count = int(np.prod(t.shape)) if t.shape else 1
        if len(raw) != count * np.dtype(dtype).itemsize:
            raise _fail(self.path, f"tensor {t.name!r} has {len(raw)} bytes of data for shape {t.shape}")
        return np.frombuffer(raw, dtype=dtype).reshape(t.shape).copy()


_INT8, _INT32, _FLOAT32 = 9, 2, 0  # tflite.TensorType values


def _act_bounds(code: int, scale: float, zp: int, where: str) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: zp + round(f / scale) in float32, clamped to int8."""
    def q(f: float) -> int:
        return int(zp) + tflite_round(float(np.float32(f) / np.float32(scale)))

    if code == 0:
        return INT8_MIN, INT8_MAX
    if code == 1:  # RELU
        return max(INT8_MIN, q(0.0)), INT8_MAX
    if code == 3:  # RELU6
        return max(INT8_MIN, q(0.0)), min(INT8_MAX, q(6.0))
    if code == 2:  # RELU_N1_TO_1
        return max(INT8_MIN, q(-1.0)), min(INT8_MAX, q(1.0))
    raise UserError(f"{where}: fused activation {code} is not supported (NONE, RELU, RELU6, RELU_N1_TO_1 are)")


def _mults(reals) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier_tflite(float(r)) for r in np.atleast_1d(reals)]
    return np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32)


class _Builder:
    """Walks the operators in order and emits graph nodes."""

    def __init__(self, r: _Reader, name: str):
        self.r, self.name = r, name
        self.where = f"model file {r.path}"
        self.names: dict[int, str] = {}  # tflite tensor index -> graph tensor name
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.pads: dict[int, tuple[int, tuple[int, int, int, int]]] = {}  # PAD output -> (source, pad)
        self.float_in = self.float_out = False

    # -- tensors -----------------------------------------------------------
    def _qparams(self, i: int) -> tuple[float, int]:
        t = self.r.tensors[i]
        if t.ttype != _INT8 or t.scale is None or t.scale.size != 1:
            kind = {_FLOAT32: "float32"}.get(t.ttype, f"type {t.ttype}")
            raise UserError(f"{self.where} is not a full-integer int8 model: tensor {t.name!r} is "
                            f"{kind if t.ttype != _INT8 else 'int8 without one scale'}; {_FIX}")
        return float(t.scale[0]), int(t.zero_point[0])

    def act(self, i: int) -> str:
        """The graph tensor of activation ``i`` (NHWC 4-D; (1, C) becomes (1, 1, 1, C))."""
        if i in self.names:
            return self.names[i]
        t = self.r.tensors[i]
        scale, zp = self._qparams(i)
        shape = t.shape
        if len(shape) == 2 and shape[0] == 1:
            shape = (1, 1, 1, shape[1])
        if len(shape) != 4 or shape[0] != 1:
            raise UserError(f"{self.where}: tensor {t.name!r} has shape {t.shape}; only batch-1 NHWC "
                            "(1, H, W, C) or (1, C) activations are supported")
        base = re.sub(r"[^A-Za-z0-9_]", "_", t.name) or "t"
        name = base if base not in self.tensors else f"{base}_{i}"
        self.tensors[name] = Tensor(name, shape, "int8", scale, zp)
        self.names[i] = name
        return name

    def alias(self, out: int, src: int) -> None:
        """RESHAPE and friends: ``out`` is the same graph tensor as ``src`` (same bytes, same qparams)."""
        if self._qparams(out) != self._qparams(src):
            raise UserError(f"{self.where}: {self.r.tensors[out].name!r} changes qparams in a RESHAPE")
        self.names[out] = self.act(src)

    def node(self, op: str, ins: list[str], out: int, attrs: dict, params: dict) -> None:
        y = self.act(out)
        self.nodes.append(Node(y, op, ins, [y], attrs, params))

    def _check_shape(self, out: int, want: tuple[int, ...], opname: str) -> None:
        got = self.tensors[self.act(out)].shape
        if tuple(got) != tuple(want):
            raise UserError(f"{self.where}: {opname} output {self.r.tensors[out].name!r} has shape {got}, "
                            f"expected {want}")

    # -- operators ---------------------------------------------------------
    def _source(self, i: int) -> tuple[str, tuple[int, int, int, int]]:
        """A conv input: the tensor itself, or the source of a folded PAD and its padding."""
        if i in self.pads:
            src, pad = self.pads.pop(i)
            return self.act(src), pad
        return self.act(i), (0, 0, 0, 0)

    def _padding(self, code: int, h: int, w: int, k: tuple[int, int], s: int, extra) -> tuple[int, ...]:
        if code == 0:  # SAME
            (t, b), (lft, rgt) = same_padding(h, k[0], s), same_padding(w, k[1], s)
        else:
            t = b = lft = rgt = 0
        return (t + extra[0], lft + extra[1], b + extra[2], rgt + extra[3])

    def _stride(self, o, opname: str) -> int:
        sh, sw = int(o.StrideH()), int(o.StrideW())
        dil = (int(o.DilationHFactor()), int(o.DilationWFactor()))
        if sh != sw or dil != (1, 1):
            raise UserError(f"{self.where}: {opname} with strides ({sh}, {sw}) and dilation {dil} is not "
                            "supported (equal strides, no dilation)")
        return sh

    def _bias(self, ins, n: int) -> np.ndarray:
        if len(ins) > 2 and ins[2] >= 0:
            return self.r.data(ins[2], np.int32).reshape(n).astype(np.int32)
        return np.zeros(n, np.int32)

    def _weight(self, i: int, opname: str) -> tuple[np.ndarray, np.ndarray]:
        t = self.r.tensors[i]
        if t.ttype != _INT8 or t.scale is None:
            raise UserError(f"{self.where} is not a full-integer int8 model: {opname} weights {t.name!r} "
                            f"are not int8; {_FIX}")
        if np.any(t.zero_point != 0):
            raise UserError(f"{self.where}: {opname} weights {t.name!r} have a non-zero zero point")
        return self.r.data(i, np.int8), t.scale

    def conv_2d(self, ins, outs, op) -> None:
        from tflite.Conv2DOptions import Conv2DOptions

        o = _options(op, Conv2DOptions)
        x, extra = self._source(ins[0])
        w, ws = self._weight(ins[1], "CONV_2D")
        O, KH, KW, Ig = w.shape
        _, H, W, C = self.tensors[x].shape
        if C % Ig or O % (C // Ig):
            raise UserError(f"{self.where}: CONV_2D weights {w.shape} do not fit input channels {C}")
        s = self._stride(o, "CONV_2D")
        pad = self._padding(int(o.Padding()), H, W, (KH, KW), s, extra)
        self._weighted("conv2d", x, ins, outs[0], w, ws, O, int(o.FusedActivationFunction()),
                       dict(kernel=(KH, KW), stride=s, pad=pad, groups=C // Ig), "CONV_2D")
        oh, ow = (H + pad[0] + pad[2] - KH) // s + 1, (W + pad[1] + pad[3] - KW) // s + 1
        self._check_shape(outs[0], (1, oh, ow, O), "CONV_2D")

    def depthwise_conv_2d(self, ins, outs, op) -> None:
        from tflite.DepthwiseConv2DOptions import DepthwiseConv2DOptions

        o = _options(op, DepthwiseConv2DOptions)
        x, extra = self._source(ins[0])
        w, ws = self._weight(ins[1], "DEPTHWISE_CONV_2D")
        _, KH, KW, C = w.shape
        _, H, W, Cin = self.tensors[x].shape
        if C != Cin:
            raise UserError(f"{self.where}: DEPTHWISE_CONV_2D with depth multiplier {C // max(Cin, 1)} is not "
                            "supported (multiplier 1)")
        s = self._stride(o, "DEPTHWISE_CONV_2D")
        pad = self._padding(int(o.Padding()), H, W, (KH, KW), s, extra)
        self._weighted("depthwise", x, ins, outs[0], w.reshape(KH, KW, C), ws, C, int(o.FusedActivationFunction()),
                       dict(kernel=(KH, KW), stride=s, pad=pad), "DEPTHWISE_CONV_2D")
        oh, ow = (H + pad[0] + pad[2] - KH) // s + 1, (W + pad[1] + pad[3] - KW) // s + 1
        self._check_shape(outs[0], (1, oh, ow, C), "DEPTHWISE_CONV_2D")

    def fully_connected(self, ins, outs, op) -> None:
        from tflite.FullyConnectedOptions import FullyConnectedOptions

        o = _options(op, FullyConnectedOptions)
        x = self.act(ins[0])
        w, ws = self._weight(ins[1], "FULLY_CONNECTED")
        N, C = w.shape
        if self.tensors[x].shape != (1, 1, 1, C):
            raise UserError(f"{self.where}: FULLY_CONNECTED reads {self.tensors[x].shape}; only a (1, C) vector "
                            "(after a global pool) is supported")
        self._weighted("fully_connected", x, ins, outs[0], w, ws, N, int(o.FusedActivationFunction()), {},
                       "FULLY_CONNECTED")
        self._check_shape(outs[0], (1, 1, 1, N), "FULLY_CONNECTED")

    def _weighted(self, op, x, ins, out, w, ws, n, act, attrs, opname) -> None:
        """Per-channel multipliers as PopulateConvolutionQuantizationParams: (sx * sw[c]) / sy in double."""
        sx = self.tensors[x].scale
        sy, zy = self._qparams(out)
        ws = np.broadcast_to(ws, (n,))
        mult, shift = _mults([(sx * float(s)) / sy for s in ws])
        lo, hi = _act_bounds(act, sy, zy, f"{self.where}: {opname}")
        self.node(op, [x], out, dict(attrs, act_min=lo, act_max=hi),
                  dict(weight=w, bias=self._bias(ins, n), multiplier=mult, shift=shift))

    def add(self, ins, outs, op) -> None:
        """TFLM add_common: left shift 20, per-input multipliers over twice the larger scale."""
        from tflite.AddOptions import AddOptions

        o = _options(op, AddOptions)
        a, b = self.act(ins[0]), self.act(ins[1])
        if self.tensors[a].shape != self.tensors[b].shape:
            raise UserError(f"{self.where}: ADD of shapes {self.tensors[a].shape} and {self.tensors[b].shape} "
                            "(broadcasting) is not supported")
        sa, sb = self.tensors[a].scale, self.tensors[b].scale
        sy, zy = self._qparams(outs[0])
        twice_max = 2 * float(np.maximum(np.float32(sa), np.float32(sb)))
        mult, shift = _mults([sa / twice_max, sb / twice_max, twice_max / ((1 << 20) * sy)])
        lo, hi = _act_bounds(int(o.FusedActivationFunction()) if o else 0, sy, zy, f"{self.where}: ADD")
        self.node("add", [a, b], outs[0], dict(act_min=lo, act_max=hi), dict(multiplier=mult, shift=shift))
        self._check_shape(outs[0], self.tensors[a].shape, "ADD")

    def mul(self, ins, outs, op) -> None:
        """TFLM mul_common: real M = s1 * s2 / sy; only the channel gate (1, 1, 1, C) broadcast maps."""
        from tflite.MulOptions import MulOptions

        o = _options(op, MulOptions)
        x, g = self.act(ins[0]), self.act(ins[1])
        C = self.tensors[x].shape[3]
        if self.tensors[g].shape != (1, 1, 1, C):
            x, g = g, x
        if self.tensors[g].shape != (1, 1, 1, self.tensors[x].shape[3]):
            raise UserError(f"{self.where}: MUL of {self.tensors[x].shape} and {self.tensors[g].shape} is not "
                            "supported (only a (1, 1, 1, C) channel gate)")
        sy, zy = self._qparams(outs[0])
        mult, shift = _mults([self.tensors[x].scale * self.tensors[g].scale / sy])
        lo, hi = _act_bounds(int(o.FusedActivationFunction()) if o else 0, sy, zy, f"{self.where}: MUL")
        self.node("mul", [x, g], outs[0], dict(act_min=lo, act_max=hi), dict(multiplier=mult, shift=shift))

    def mean(self, ins, outs, op) -> None:
        """TFLM reduce, int8 MEAN over axes 1 and 2 (keep_dims or not: (1, C) is (1, 1, 1, C) here):
        sx / sy with the count folded in (tflite_mean_multiplier)."""
        x = self.act(ins[0])
        axes = sorted(int(a) % 4 for a in self.r.data(ins[1], np.int32).reshape(-1))
        if axes != [1, 2]:
            raise UserError(f"{self.where}: MEAN over axes {axes} is not supported (axes 1 and 2, the global pool)")
        sy, zy = self._qparams(outs[0])
        _, H, W, _ = self.tensors[x].shape
        m, s = tflite_mean_multiplier(self.tensors[x].scale / sy, H * W)
        mult, shift = np.array([m], np.int32), np.array([s], np.int32)
        self.node("global_avg_pool", [x], outs[0], dict(pool="mean", act_min=INT8_MIN, act_max=INT8_MAX),
                  dict(multiplier=mult, shift=shift))
        self._check_shape(outs[0], (1, 1, 1, self.tensors[x].shape[3]), "MEAN")

    def average_pool_2d(self, ins, outs, op) -> None:
        """AVERAGE_POOL_2D whose window is the whole map: a global pool on raw values, same qparams."""
        from tflite.Pool2DOptions import Pool2DOptions

        o = _options(op, Pool2DOptions)
        x = self.act(ins[0])
        _, H, W, C = self.tensors[x].shape
        if (int(o.FilterHeight()), int(o.FilterWidth())) != (H, W) or int(o.Padding()) != 1:
            raise UserError(f"{self.where}: AVERAGE_POOL_2D with a {o.FilterHeight()}x{o.FilterWidth()} window on "
                            f"{H}x{W} is not supported (only a VALID window over the whole map)")
        if self._qparams(outs[0]) != self._qparams(ins[0]):
            raise UserError(f"{self.where}: AVERAGE_POOL_2D changes qparams (TFLite requires equal ones)")
        sy, zy = self._qparams(outs[0])
        lo, hi = _act_bounds(int(o.FusedActivationFunction()), sy, zy, f"{self.where}: AVERAGE_POOL_2D")
        self.node("global_avg_pool", [x], outs[0], dict(pool="average", act_min=lo, act_max=hi),
                  dict(multiplier=np.zeros(1, np.int32), shift=np.full(1, 31, np.int32)))
        self._check_shape(outs[0], (1, 1, 1, C), "AVERAGE_POOL_2D")

    def hard_swish(self, ins, outs, op) -> None:
        """HARD_SWISH: a table computed with TFLite's own integer algorithm (exact on all 256 inputs)."""
        from mbmicro.quant.lut import tflite_hard_swish_table

        x = self.act(ins[0])
        sx, zx = self._qparams(ins[0])
        sy, zy = self._qparams(outs[0])
        self.node("lut", [x], outs[0], dict(func="hswish"), dict(table=tflite_hard_swish_table(sx, zx, sy, zy)))

    def logistic(self, ins, outs, op) -> None:
        """LOGISTIC: TFLite's fixed-point logistic as a table; the output must be scale 1/256, zero point -128."""
        from mbmicro.quant.lut import tflite_logistic_table

        x = self.act(ins[0])
        sx, zx = self._qparams(ins[0])
        if self._qparams(outs[0]) != (1.0 / 256.0, -128):
            raise UserError(f"{self.where}: LOGISTIC output {self.r.tensors[outs[0]].name!r} has qparams "
                            f"{self._qparams(outs[0])}; TFLite requires scale 1/256, zero point -128")
        self.node("lut", [x], outs[0], dict(func="sigmoid"), dict(table=tflite_logistic_table(sx, zx)))

    def softmax(self, ins, outs, op) -> None:
        """SOFTMAX over channels: TFLM's Prepare numbers (arith.tflite_softmax_params) from beta and the input
        scale; the output must be scale 1/256, zero point -128 as TFLite requires for int8."""
        from tflite.SoftmaxOptions import SoftmaxOptions

        o = _options(op, SoftmaxOptions)
        beta = float(o.Beta()) if o is not None else 0.0  # TFLM's ParseSoftmax leaves beta 0 without options
        x = self.act(ins[0])
        if self._qparams(outs[0]) != SOFTMAX_OUTPUT_QPARAMS:
            raise UserError(f"{self.where}: SOFTMAX output {self.r.tensors[outs[0]].name!r} has qparams "
                            f"{self._qparams(outs[0])}; TFLite requires scale 1/256, zero point -128")
        try:
            mult, left, diff_min = tflite_softmax_params(beta, self.tensors[x].scale)
        except ValueError as exc:
            raise UserError(f"{self.where}: SOFTMAX cannot be imported: {exc}; re-export with a larger input "
                            "scale or beta") from None
        self.node("softmax", [x], outs[0], dict(beta=beta, input_multiplier=mult, input_left_shift=left,
                                                diff_min=diff_min), {})
        self._check_shape(outs[0], self.tensors[x].shape, "SOFTMAX")

    def reshape(self, ins, outs, op) -> None:
        x = self.act(ins[0])
        src = self.tensors[x].shape
        dst = self.r.tensors[outs[0]].shape
        flat = (1, int(np.prod(dst))) if dst else ()
        if src[1:3] != (1, 1) or tuple(dst) not in ((1, src[3]), (1, 1, 1, src[3])) or flat != (1, src[3]):
            raise UserError(f"{self.where}: RESHAPE {src} -> {dst} is not supported (only (1, 1, 1, C) <-> (1, C))")
        self.alias(outs[0], ins[0])

    def concatenation(self, ins, outs, op) -> None:
        from tflite.ConcatenationOptions import ConcatenationOptions

        o = _options(op, ConcatenationOptions)
        xs = [self.act(i) for i in ins]
        if int(o.Axis()) % 4 != 3 or int(o.FusedActivationFunction()) != 0:
            raise UserError(f"{self.where}: CONCATENATION on axis {o.Axis()} is not supported (channels, no "
                            "fused activation)")
        self.node("concat", xs, outs[0], {}, {})
        shape = self.tensors[xs[0]].shape
        self._check_shape(outs[0], (*shape[:3], sum(self.tensors[x].shape[3] for x in xs)), "CONCATENATION")

    def pad(self, ins, outs, op) -> None:
        """PAD is folded into the convolution that reads it (padding with the zero point is the same)."""
        pads = self.r.data(ins[1], np.int32).reshape(-1, 2) if self.r.tensors[ins[1]].ttype == _INT32 else \
            self.r.data(ins[1], np.int64).reshape(-1, 2)
        if pads.shape != (4, 2) or pads[0].any() or pads[3].any() or (pads < 0).any():
            raise UserError(f"{self.where}: PAD {pads.tolist()} is not supported (H and W only)")
        if self._qparams(outs[0]) != self._qparams(ins[0]):
            raise UserError(f"{self.where}: PAD changes qparams")
        readers = [name for name, i, _, _ in self.r.ops if outs[0] in i]
        if readers not in (["CONV_2D"], ["DEPTHWISE_CONV_2D"]) or outs[0] in self.r.outputs:
            raise UserError(f"{self.where}: PAD read by {readers or 'the output'} is not supported "
                            "(only a PAD read by one CONV_2D or DEPTHWISE_CONV_2D, folded into it)")
        self.act(ins[0])
        self.pads[outs[0]] = (ins[0], (int(pads[1, 0]), int(pads[2, 0]), int(pads[1, 1]), int(pads[2, 1])))


def _options(op, cls):
    table = op.BuiltinOptions()
    if table is None:
        return None
    o = cls()
    o.Init(table.Bytes, table.Pos)
    return o


_HANDLERS = {
    "CONV_2D": _Builder.conv_2d, "DEPTHWISE_CONV_2D": _Builder.depthwise_conv_2d,
    "FULLY_CONNECTED": _Builder.fully_connected, "ADD": _Builder.add, "MUL": _Builder.mul,
    "MEAN": _Builder.mean, "AVERAGE_POOL_2D": _Builder.average_pool_2d, "RESHAPE": _Builder.reshape,
    "CONCATENATION": _Builder.concatenation, "PAD": _Builder.pad,
    "HARD_SWISH": _Builder.hard_swish, "LOGISTIC": _Builder.logistic, "SOFTMAX": _Builder.softmax,
}


def _edges(b: _Builder, r: _Reader) -> list:
    """Strip QUANTIZE at the input and DEQUANTIZE at the output; returns the remaining operators."""
    ops = list(r.ops)
    if len(r.inputs) != 1 or len(r.outputs) != 1:
        raise UserError(f"{b.where} has {len(r.inputs)} inputs and {len(r.outputs)} outputs; "
                        "pass a model with one input and one output")
    inp, out = r.inputs[0], r.outputs[0]
    if r.tensors[inp].ttype == _FLOAT32:
        if not ops or ops[0][0] != "QUANTIZE" or ops[0][1] != [inp]:
            raise UserError(f"{b.where} is a float model (float32 input not followed by QUANTIZE); {_FIX}")
        inp = ops[0][2][0]
        ops = ops[1:]
        b.float_in = True
    if r.tensors[out].ttype == _FLOAT32:
        if not ops or ops[-1][0] != "DEQUANTIZE" or ops[-1][2] != [out]:
            raise UserError(f"{b.where} is a float model (float32 output not made by DEQUANTIZE); {_FIX}")
        out = ops[-1][1][0]
        ops = ops[:-1]
        b.float_out = True
    b.input, b.output = inp, out
    return ops


def import_tflite_bytes(data: bytes, name: str, path="<bytes>") -> Graph:
    """The int8 Graph of a full-integer .tflite held in ``data``."""
    r = _Reader(data, path)
    b = _Builder(r, name)
    ops = _edges(b, r)
    graph_in = b.act(b.input)
    for opname, ins, outs, op in ops:
        handler = _HANDLERS.get(opname)
        if handler is None:
            raise UserError(f"{b.where}: operator {opname} is not supported; supported: "
                            f"{', '.join(sorted(_HANDLERS))}, QUANTIZE/DEQUANTIZE at the edges")
        handler(b, ins, outs, op)
    if b.pads:
        raise UserError(f"{b.where}: a PAD is not read by a convolution")
    if b.output not in b.names:
        raise UserError(f"{b.where}: the output is never computed")
    graph_out = b.names[b.output]
    used = {graph_in, *(t for n in b.nodes for t in [*n.inputs, *n.outputs])}
    graph = Graph(name, {k: v for k, v in b.tensors.items() if k in used}, b.nodes, [graph_in], [graph_out])
    graph.validate()
    if not graph.nodes:
        raise UserError(f"{b.where} has no operator to run")
    graph.meta = {"model": name, "requant": "tflite", "format": "tflite", "description": r.description,
                  "float_input": b.float_in, "float_output": b.float_out}
    return graph


def import_tflite_file(path: str | Path) -> Graph:
    """Read and import a .tflite file; ``meta["source"]`` records its file name and SHA-256."""
    data = read_bytes(path)
    if not data:
        raise _fail(path, "is empty")
    graph = import_tflite_bytes(data, file_model_name(path), path)
    graph.meta["source"] = {"file": Path(path).name, "sha256": hashlib.sha256(data).hexdigest()}
    return graph
