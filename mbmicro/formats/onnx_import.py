"""Import a float ONNX model (torch.onnx.export, tf2onnx) as mbmicro's float Graph.

Why an importer and not a second IR: a trained model becomes the same float
``Graph`` the built-in models are (mbmicro/graph/ir.py), so post-training
quantization, the reference interpreters and code generation need no second
path.  It is the inverse of :mod:`mbmicro.formats.onnx_float` and more: what
PyTorch and tf2onnx write for MBConv networks (docs/ONNX_IMPORT.md lists it).

How, in three steps:

1. Refuse what cannot be imported before any work, each as one UserError
   naming the file or node: not an ONNX file, invalid, an opset before 9, an
   int8/QDQ op (the QDQ importer is separate), an op from another domain, an
   input that is not one static float32 (1, 3, H, W) tensor (or NHWC
   (1, H, W, 3) feeding Transposes to NCHW, as tf2onnx and mbmicro write),
   weights in external files.  Then ``onnx.shape_inference`` gives every
   tensor's static shape.
2. Walk the nodes once.  Each ONNX value is a constant (initializers,
   Constant nodes and any node whose inputs are all constant, folded with
   onnx's reference evaluator), an activation (an IR tensor and the layout
   ONNX sees it in: NCHW, NHWC or flat (1, C)), or a pending Pad (taken by
   the next Conv as padding, or by an Add as ReXNet's zero channels).  Layout
   ops (Transpose NHWC<->NCHW, Flatten/Reshape/Squeeze of a 1x1 head,
   Identity, Dropout) change only the view, never the IR tensor.
3. Simplify the IR: drop dead nodes, fold affine nodes (BatchNormalization,
   Add/Sub/Mul/Div by a per-channel constant, MatMul's bias) into the conv or
   fully_connected before them, fuse Relu/Clip(0, 6) into their producer's
   ``act``.  What does not fold stays an exact op (a 1x1 depthwise, an
   ``act`` node), so nothing is approximated.

Names: an IR tensor is named after its ONNX tensor (a leading "/" and a
trailing "_output_0" dropped, characters outside ``[A-Za-z0-9_.:/-]``
replaced, since names reach C comments), and a node after its output.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper

from mbmicro.errors import UserError
from mbmicro.graph.files import FileFormatError, describe_os_error, open_regular
from mbmicro.graph.ir import Graph, Node, Tensor
from mbmicro.models.options import file_model_name
from mbmicro.units import format_bytes

#: Oldest default-domain opset read.  13 and later is what torch.onnx.export
#: and tf2onnx write by default; 9-12 differ only in the attribute forms of
#: Clip, Pad, Slice, Split, Squeeze and ReduceMean, which are read too.
MIN_OPSET = 9

#: Largest .onnx file read: protobuf's own limit is 2 GiB, and a model a
#: microcontroller can hold is a few MiB.
MAX_MODEL_BYTES = 1 << 30

#: The ops the importer maps (besides folding constant subgraphs).
SUPPORTED_OPS = (
    "Conv", "BatchNormalization", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Clip",
    "Sigmoid", "HardSigmoid", "HardSwish", "GlobalAveragePool", "AveragePool", "ReduceMean",
    "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice", "Pad",
    "Identity", "Dropout", "Constant", "Shape",
)

_QDQ_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger",
            "MatMulInteger", "QGemm"}

#: Why a supported op was refused is said by the handler; these ops get a hint.
_HINTS = {
    "Softmax": "export the logits, without the final Softmax",
    "LogSoftmax": "export the logits, without the final LogSoftmax",
    "MaxPool": "pooling is supported only as an average over the whole image",
}

#: ONNX axis of the channels in each activation layout.
_CHANNEL_AXIS = {"nchw": 1, "nhwc": 3, "flat": 1}
_TO_NHWC, _TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)
_FUSIBLE = ("conv2d", "depthwise", "fully_connected", "add")
_WEIGHTED = ("conv2d", "depthwise", "fully_connected")
#: float32 max: what exporters write for an unbounded Clip side
_FLOAT_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class _Act:
    """An activation: IR tensor ``tensor`` as ONNX sees it (``layout`` nchw, nhwc or flat)."""

    tensor: str
    layout: str


@dataclass(frozen=True)
class _Padded:
    """A Pad's output, waiting for its consumer: a Conv takes ``pads`` (top, left,
    bottom, right) as its own padding, an Add takes ``channels`` trailing zeros."""

    source: _Act
    pads: tuple[int, int, int, int]
    channels: int
    node: str


_Value = Union[_Act, _Padded, np.ndarray]


# ------------------------------------------------------------------ loading and the up-front checks

def load_model(path: str | Path) -> tuple[onnx.ModelProto, str]:
    """Parse an .onnx file; returns the model and the SHA-256 of the file's bytes.

    Why bytes first: the hash recorded in build.json must be of exactly what
    was imported, and a truncated or foreign file must be one UserError.  The
    file is read like every file mbmicro did not write (mbmicro.graph.files):
    a regular file only, at most MAX_MODEL_BYTES, checked before reading.
    """
    path = Path(path)
    try:
        with open_regular(path) as (fp, size):
            if size > MAX_MODEL_BYTES:
                raise FileFormatError(f"it is {format_bytes(size)}, more than the limit of {format_bytes(MAX_MODEL_BYTES)}")
            data = fp.read(MAX_MODEL_BYTES + 1)
    except OSError as exc:
        raise UserError(f"model file {path} {describe_os_error(exc)}: pass an .onnx file") from None
    except FileFormatError as exc:
        raise UserError(f"model file {path} cannot be read ({exc}): pass an .onnx file") from None
    if not data:
        raise UserError(f"model file {path} is empty: pass an .onnx file written by torch.onnx.export or tf2onnx")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise UserError(f"model file {path} is not an ONNX model (truncated or another format: "
                        f"{_first_line(exc)}); pass an .onnx file written by torch.onnx.export or tf2onnx") from None
    if not model.HasField("graph") or not model.graph.node or not model.opset_import:
        raise UserError(f"model file {path} is not an ONNX model (no graph, nodes or opset; truncated or "
                        "another format?): pass an .onnx file written by torch.onnx.export or tf2onnx")
    return model, hashlib.sha256(data).hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].strip() if text else type(exc).__name__


def _node_label(node: onnx.NodeProto) -> str:
    return f"ONNX node '{node.name or (node.output[0] if node.output else '?')}' ({node.op_type})"


def _refuse(node: onnx.NodeProto, what: str) -> UserError:
    return UserError(f"{_node_label(node)}: {what}")


def _unsupported(node: onnx.NodeProto) -> UserError:
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
    hint = _HINTS.get(node.op_type)
    return UserError(f"ONNX node '{node.name or node.output[0]}' ({op}) is not supported"
                     + (f"; {hint}" if hint else "")
                     + f"; the float importer reads {', '.join(SUPPORTED_OPS)} (docs/ONNX_IMPORT.md)")


def _default_opset(model: onnx.ModelProto, where: str) -> int:
    versions = {o.domain: o.version for o in model.opset_import}
    version = versions.get("", versions.get("ai.onnx"))
    if version is None:
        raise UserError(f"{where} imports no default-domain (ai.onnx) opset: it is not a float ONNX model "
                        "mbmicro can read")
    if version < MIN_OPSET:
        raise UserError(f"{where} uses opset {version}: re-export it with opset 13 or later "
                        "(torch.onnx.export(..., opset_version=13))")
    return int(version)


def _check_nodes(model: onnx.ModelProto) -> None:
    """Refuse int8/QDQ nodes and other domains' ops before any other work."""
    for node in model.graph.node:
        if node.op_type in _QDQ_OPS or node.op_type.startswith("QLinear"):
            raise _refuse(node, "int8/QDQ op in what must be a float model: this is the float ONNX "
                                "importer (the QDQ importer is separate); pass the float model and let "
                                "mbmicro quantize it with --calibration")
        if node.domain not in ("", "ai.onnx"):
            raise _unsupported(node)


def _static_shape(value: onnx.ValueInfoProto) -> tuple | None:
    """The dims of a tensor value (None for a dynamic or unknown dim); None if not a tensor with a shape."""
    t = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    return tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None for d in t.shape.dim)


def _describe(dims: tuple | None, value: onnx.ValueInfoProto) -> str:
    if dims is None:
        return "no shape"
    names = [d.dim_param or "?" for d in value.type.tensor_type.shape.dim]
    return "(" + ", ".join(str(v) if v is not None else names[i] for i, v in enumerate(dims)) + ")"


def _check_io(model: onnx.ModelProto, where: str) -> onnx.ValueInfoProto:
    """The one float32 static-shape input (and one output); returns the input."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in inits]
    if len(inputs) != 1:
        raise UserError(f"{where} has {len(inputs)} inputs ({', '.join(v.name for v in inputs)}): "
                        "mbmicro models take one image tensor (1, 3, H, W)")
    if len(graph.output) != 1:
        raise UserError(f"{where} has {len(graph.output)} outputs: mbmicro models have one (export only the logits)")
    x = inputs[0]
    if x.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        kind = onnx.TensorProto.DataType.Name(x.type.tensor_type.elem_type)
        raise UserError(f"{where}: input '{x.name}' is {kind}: mbmicro imports float32 models "
                        "(export the float model; int8 models need the separate QDQ importer)")
    dims = _static_shape(x)
    if dims is None or len(dims) != 4 or None in dims or dims[0] != 1:
        raise UserError(f"{where}: input '{x.name}' has shape {_describe(dims, x)}: mbmicro needs a static "
                        "(1, 3, H, W) float tensor; re-export with a fixed input size and batch 1 "
                        "(torch.onnx.export without dynamic_axes; tf2onnx --inputs NAME[1,H,W,3])")
    for t in graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            raise UserError(f"{where}: initializer '{t.name}' is stored in an external file: "
                            "re-export with the weights inside the .onnx file")
    return x


def _check(model: onnx.ModelProto, where: str) -> None:
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise UserError(f"{where} is not a valid ONNX model: {_first_line(exc)}") from None


def _infer(model: onnx.ModelProto, where: str) -> onnx.ModelProto:
    """A copy of ``model`` with every tensor's shape inferred (strict: inconsistent models are refused)."""
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as exc:
        raise UserError(f"{where}: ONNX shape inference failed ({_first_line(exc)}); "
                        "check the model with onnx.checker and onnx.shape_inference") from None


# ------------------------------------------------------------------ constant folding

#: Rounds of "fold what is constant, infer shapes again": each round can make a
#: Shape node constant whose input's shape the previous round could not know.
_FOLD_ROUNDS = 8


def _shapes(model: onnx.ModelProto) -> dict[str, tuple | None]:
    g = model.graph
    return {v.name: _static_shape(v) for v in (*g.value_info, *g.input, *g.output)}


def _evaluate(node: onnx.NodeProto, consts: dict[str, np.ndarray], opset_import) -> list[np.ndarray]:
    """Outputs of a node whose inputs are all constant, with onnx's reference evaluator."""
    a = {x.name: x for x in node.attribute}
    if node.op_type == "Constant" and "value" in a:
        return [numpy_helper.to_array(a["value"].t)]
    from onnx.reference import ReferenceEvaluator

    inits = [numpy_helper.from_array(np.asarray(consts[n]), n) for n in dict.fromkeys(node.input) if n]
    outs = [helper.make_value_info(o, onnx.TypeProto()) for o in node.output if o]
    m = helper.make_model(helper.make_graph([node], "fold", [], outs, initializer=inits),
                          opset_imports=list(opset_import))
    try:
        return [np.asarray(v) for v in ReferenceEvaluator(m).run(None, {})]
    except Exception as exc:  # the reference evaluator raises many kinds; all mean "cannot fold"
        raise _refuse(node, f"cannot evaluate this constant node ({_first_line(exc)})") from None


def _fold_round(model: onnx.ModelProto, shapes: dict[str, tuple | None]) -> bool:
    """Replace every node computable without the image (constants, Shape of a static tensor) by
    initializers, in place; returns whether anything was folded."""
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    keep, folded = [], False
    for node in model.graph.node:
        dims = shapes.get(node.input[0]) if node.op_type == "Shape" and node.input else None
        if node.op_type == "Shape" and dims is not None and None not in dims:
            a = _attrs(node)
            start, end = a.get("start", 0), a.get("end", len(dims))
            results = [np.array(dims, dtype=np.int64)[start:end]]
        elif all(n in consts for n in node.input if n):
            results = _evaluate(node, consts, model.opset_import)
        else:
            keep.append(node)
            continue
        folded = True
        for name, value in zip([o for o in node.output if o], results):
            consts[name] = value
            model.graph.initializer.append(numpy_helper.from_array(value, name))
    if folded:
        del model.graph.node[:]
        model.graph.node.extend(keep)
    return folded


def _fold_constants(model: onnx.ModelProto, where: str) -> onnx.ModelProto:
    """Shape-inferred copy of ``model`` with its constant subgraphs folded into initializers.

    Why before the walk: exporters compute reshape targets from Shape nodes
    (older torch: Shape -> Gather -> Unsqueeze -> Concat -> Reshape), and ONNX
    shape inference cannot see through them; folded, every shape is static.
    """
    _check(model, where)
    model = _infer(model, where)
    for _ in range(_FOLD_ROUNDS):
        if not _fold_round(model, _shapes(model)):
            break
        del model.graph.value_info[:]
        model = _infer(model, where)
    return model


# ------------------------------------------------------------------ small array and name helpers

def _clean_name(name: str) -> str:
    text = name[1:] if name.startswith("/") else name
    text = text[:-len("_output_0")] if text.endswith("_output_0") else text
    return re.sub(r"[^A-Za-z0-9_.:/-]", "_", text) or "t"


def _view(ir_shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """The ONNX shape of an IR (1, H, W, C) tensor seen in ``layout``."""
    _, h, w, c = ir_shape
    return {"nchw": (1, c, h, w), "nhwc": (1, h, w, c), "flat": (1, c)}[layout]


def _ir_shape(view: tuple[int, ...], layout: str) -> tuple[int, int, int, int]:
    """Inverse of :func:`_view`."""
    if layout == "nchw":
        return (1, view[2], view[3], view[1])
    if layout == "nhwc":
        return tuple(view)  # type: ignore[return-value]
    return (1, 1, 1, view[1])


def _layout_of(shape: tuple[int, ...], fallback: str) -> str | None:
    """Layout of a reshaped 1x1 tensor: (1, C) flat, (1, C, 1, 1) NCHW, (1, 1, 1, C) NHWC."""
    if len(shape) == 2 and shape[0] == 1:
        return "flat"
    if len(shape) != 4 or shape[0] != 1:
        return None
    big = [i for i, d in enumerate(shape) if d != 1]
    if not big:
        return fallback if fallback != "flat" else "nchw"
    if big == [1]:
        return "nchw"
    if big == [3]:
        return "nhwc"
    return None


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _same_pads(size: int, kernel: int, stride: int, upper: bool) -> tuple[int, int]:
    """auto_pad SAME_UPPER / SAME_LOWER padding (before, after) along one axis."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    small, big = total // 2, total - total // 2
    return (small, big) if upper else (big, small)


# ------------------------------------------------------------------ the importer

class _Importer:
    """One pass over the ONNX nodes, writing IR nodes and tensors."""

    def __init__(self, model: onnx.ModelProto, opset: int, shapes: dict[str, tuple], where: str):
        self.model, self.opset, self.shapes, self.where = model, opset, shapes, where
        self.values: dict[str, _Value] = {}
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.producer: dict[str, Node] = {}
        #: 1x1 depthwise nodes that stand for an affine op and may fold into their producer
        self.affine: set[str] = set()
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in model.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    # -------------------------------------------------------------- values

    def name(self, onnx_name: str) -> str:
        base = _clean_name(onnx_name)
        name, n = base, 2
        while name in self.tensors:
            name, n = f"{base}_{n}", n + 1
        return name

    def shape(self, node: onnx.NodeProto, onnx_name: str) -> tuple[int, ...]:
        dims = self.shapes.get(onnx_name)
        if dims is None or None in dims:
            raise _refuse(node, f"the shape of tensor '{onnx_name}' is not static after shape inference "
                                "(re-export with a fixed input size)")
        return dims

    def value(self, node: onnx.NodeProto, i: int) -> _Value | None:
        if i >= len(node.input) or not node.input[i]:
            return None
        name = node.input[i]
        if name not in self.values:
            raise _refuse(node, f"input '{name}' is not produced by any node the importer could read")
        return self.values[name]

    def act(self, node: onnx.NodeProto, i: int = 0, layouts: tuple[str, ...] = ("nchw", "nhwc", "flat")) -> _Act:
        v = self.value(node, i)
        if isinstance(v, _Padded):
            raise _refuse(node, f"takes the output of Pad node '{v.node}': a Pad is supported only right "
                                "before a Conv (spatial zeros) or an Add (trailing zero channels)")
        if not isinstance(v, _Act):
            raise _refuse(node, f"input {i} is {'missing' if v is None else 'a constant'}: expected an activation")
        if v.layout not in layouts:
            want = " or ".join(f"{'flat (1, C)' if l == 'flat' else l.upper()}" for l in layouts)
            raise _refuse(node, f"needs an {want} tensor, got a {v.layout} one of shape "
                                f"{_view(self.tensors[v.tensor].shape, v.layout)}")
        return v

    def const(self, node: onnx.NodeProto, i: int, what: str, required: bool = True) -> np.ndarray | None:
        v = self.value(node, i)
        if v is None and not required:
            return None
        if not isinstance(v, np.ndarray):
            raise _refuse(node, f"{what} (input {i}) must be a constant (an initializer or Constant), "
                                "not computed from the image")
        return v

    def ir_view(self, a: _Act) -> tuple[int, ...]:
        return _view(self.tensors[a.tensor].shape, a.layout)

    # -------------------------------------------------------------- emitting IR

    def emit(self, op: str, inputs: list[str], onnx_out: str, shape: tuple[int, ...], attrs: dict | None = None,
             params: dict | None = None) -> str:
        name = self.name(onnx_out)
        self.tensors[name] = Tensor(name, tuple(int(s) for s in shape))
        node = Node(name, op, list(inputs), [name], attrs or {}, params or {})
        self.nodes.append(node)
        self.producer[name] = node
        return name

    def out_shape(self, node: onnx.NodeProto, layout: str, i: int = 0) -> tuple[int, int, int, int]:
        return _ir_shape(self.shape(node, node.output[i]), layout)

    def set(self, node: onnx.NodeProto, value: _Value, i: int = 0) -> None:
        self.values[node.output[i]] = value

    def emit_act(self, node: onnx.NodeProto, x: _Act, func: str) -> None:
        ir = self.emit("act", [x.tensor], node.output[0], self.tensors[x.tensor].shape, {"func": func})
        self.set(node, _Act(ir, x.layout))

    def emit_affine(self, node: onnx.NodeProto, x: _Act, scale: np.ndarray, shift: np.ndarray) -> None:
        """y = x * scale + shift per channel: a 1x1 depthwise that step 3 folds into its producer if it can."""
        c = self.tensors[x.tensor].shape[3]
        weight = np.broadcast_to(np.asarray(scale, np.float32), (c,)).reshape(1, 1, c)
        bias = np.broadcast_to(np.asarray(shift, np.float32), (c,))
        ir = self.emit("depthwise", [x.tensor], node.output[0], self.tensors[x.tensor].shape,
                       {"kernel": (1, 1), "stride": 1, "pad": (0, 0, 0, 0), "act": "none"},
                       {"weight": np.ascontiguousarray(weight), "bias": np.ascontiguousarray(bias)})
        self.affine.add(ir)
        self.set(node, _Act(ir, x.layout))

    # -------------------------------------------------------------- the walk

    def run(self, x_info: onnx.ValueInfoProto) -> Graph:
        for t in self.model.graph.initializer:
            self.values[t.name] = numpy_helper.to_array(t)
        x_name = self.input_tensor(x_info)
        for node in self.model.graph.node:
            self.visit(node)
        out_name = self.model.graph.output[0].name
        out = self.values.get(out_name)
        if not isinstance(out, _Act) or out.tensor == x_name:
            raise UserError(f"{self.where}: the output '{out_name}' is not computed from the image by any layer "
                            "mbmicro can import")
        return self.finish(x_name, out.tensor)

    def input_tensor(self, x: onnx.ValueInfoProto) -> str:
        """The IR input: NCHW (1, 3, H, W), or NHWC (1, H, W, 3) if every use is a Transpose to NCHW."""
        dims = _static_shape(x)
        users = self.consumers.get(x.name, [])
        nhwc = dims[3] == 3 and users and all(
            u.op_type == "Transpose" and tuple(_attrs(u).get("perm", ())) == _TO_NCHW for u in users)
        if not nhwc and dims[1] != 3:
            raise UserError(f"{self.where}: input '{x.name}' has shape {dims}: mbmicro needs a static "
                            "(1, 3, H, W) float tensor (an RGB image)")
        layout = "nhwc" if nhwc else "nchw"
        name = self.name(x.name)
        self.tensors[name] = Tensor(name, _ir_shape(dims, layout))
        self.values[x.name] = _Act(name, layout)
        return name

    def visit(self, node: onnx.NodeProto) -> None:
        handler = getattr(self, f"op_{node.op_type}", None)
        if handler is None:
            raise _unsupported(node)
        handler(node)

    def finish(self, x_name: str, y_name: str) -> Graph:
        nodes = _fuse(_fold_affine(_dead_code(self.nodes, y_name), self.affine, y_name), y_name)
        for n in nodes:
            n.name = n.outputs[0]
        used = {x_name, y_name} | {t for n in nodes for t in (*n.inputs, *n.outputs)}
        tensors = {k: v for k, v in self.tensors.items() if k in used}
        graph = Graph(name="model", tensors=tensors, nodes=nodes, inputs=[x_name], outputs=[y_name])
        graph.validate()
        return graph

    # -------------------------------------------------------------- convolution and dense layers

    def conv_input(self, node: onnx.NodeProto) -> tuple[_Act, tuple[int, int, int, int]]:
        v = self.value(node, 0)
        if isinstance(v, _Padded) and v.channels == 0:
            return v.source, v.pads
        return self.act(node, 0, ("nchw",)), (0, 0, 0, 0)

    def conv_pads(self, node: onnx.NodeProto, a: dict, hw: tuple[int, int], k: tuple[int, int],
                  stride: int) -> tuple[int, int, int, int]:
        mode = a.get("auto_pad", b"NOTSET")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode in ("SAME_UPPER", "SAME_LOWER"):
            (t, b), (l, r) = (_same_pads(hw[i], k[i], stride, mode == "SAME_UPPER") for i in (0, 1))
            return t, l, b, r
        if mode == "VALID":
            return 0, 0, 0, 0
        pads = tuple(int(p) for p in a.get("pads", (0, 0, 0, 0)))
        if len(pads) != 4 or min(pads) < 0:
            raise _refuse(node, f"pads {list(pads)}: only non-negative 2-D pads are supported")
        return pads  # ONNX (top, left, bottom, right) is the IR's order

    def op_Conv(self, node: onnx.NodeProto) -> None:
        x, extra = self.conv_input(node)
        w = self.const(node, 1, "the weight").astype(np.float32)
        bias = self.const(node, 2, "the bias", required=False)
        a = _attrs(node)
        if w.ndim != 4:
            raise _refuse(node, f"weight of shape {w.shape}: only 2-D convolutions are supported")
        if any(d != 1 for d in a.get("dilations", (1, 1))):
            raise _refuse(node, f"dilations {list(a['dilations'])}: only dilation 1 is supported")
        strides = tuple(a.get("strides", (1, 1)))
        if len(set(strides)) != 1:
            raise _refuse(node, f"strides {list(strides)}: only equal strides along H and W are supported")
        _, h, wd, c = self.tensors[x.tensor].shape
        o, ig, kh, kw = w.shape
        groups, stride = int(a.get("group", 1)), int(strides[0])
        if ig * groups != c or o % groups:
            raise _refuse(node, f"weight {w.shape} with group {groups} does not fit {c} input channels")
        own = self.conv_pads(node, a, (h, wd), (kh, kw), stride)
        pad = tuple(p + q for p, q in zip(own, extra))
        bias = np.zeros(o, np.float32) if bias is None else bias.astype(np.float32).reshape(o)
        shape = self.out_shape(node, "nchw")
        attrs = {"kernel": (kh, kw), "stride": stride, "pad": pad, "act": "none"}
        if groups == 1 and h == wd == 1 and (kh, kw) == (1, 1) and not any(pad):
            ir = self.emit("fully_connected", [x.tensor], node.output[0], shape, {"act": "none"},
                           {"weight": np.ascontiguousarray(w.reshape(o, ig)), "bias": bias})
        elif groups == c == o and groups > 1:
            ir = self.emit("depthwise", [x.tensor], node.output[0], shape, attrs,
                           {"weight": np.ascontiguousarray(w[:, 0].transpose(1, 2, 0)), "bias": bias})
        else:
            ir = self.emit("conv2d", [x.tensor], node.output[0], shape, dict(attrs, groups=groups),
                           {"weight": np.ascontiguousarray(w.transpose(0, 2, 3, 1)), "bias": bias})
        self.set(node, _Act(ir, "nchw"))

    def op_Gemm(self, node: onnx.NodeProto) -> None:
        x = self.act(node, 0, ("flat",))
        b = self.const(node, 1, "B (the weight)").astype(np.float64)
        c = self.const(node, 2, "C (the bias)", required=False)
        a = _attrs(node)
        if a.get("transA", 0):
            raise _refuse(node, "transA=1: only (1, K) x weight is supported")
        if b.ndim != 2:
            raise _refuse(node, f"weight of shape {b.shape}: expected a 2-D matrix")
        weight = (b if a.get("transB", 0) else b.T) * a.get("alpha", 1.0)
        n = weight.shape[0]
        bias = np.zeros(n) if c is None else a.get("beta", 1.0) * np.broadcast_to(
            np.asarray(c, np.float64), (1, n)).reshape(n)
        self.dense(node, x, weight, bias)

    def op_MatMul(self, node: onnx.NodeProto) -> None:
        x = self.act(node, 0, ("flat",))
        b = self.const(node, 1, "the weight (the second MatMul input)").astype(np.float64)
        if b.ndim != 2:
            raise _refuse(node, f"weight of shape {b.shape}: only (1, K) x (K, N) is supported")
        self.dense(node, x, b.T, np.zeros(b.shape[1]))

    def dense(self, node: onnx.NodeProto, x: _Act, weight: np.ndarray, bias: np.ndarray) -> None:
        k = self.tensors[x.tensor].shape[3]
        if weight.shape[1] != k:
            raise _refuse(node, f"weight {weight.shape} does not match the {k} input features")
        shape = self.out_shape(node, "flat")
        ir = self.emit("fully_connected", [x.tensor], node.output[0], shape, {"act": "none"},
                       {"weight": np.ascontiguousarray(weight, np.float32),
                        "bias": np.ascontiguousarray(bias, np.float32)})
        self.set(node, _Act(ir, "flat"))

    def op_BatchNormalization(self, node: onnx.NodeProto) -> None:
        x = self.act(node, 0, ("nchw", "flat"))
        a = _attrs(node)
        if a.get("training_mode", 0):
            raise _refuse(node, "training_mode=1: export the model in eval mode (model.eval())")
        for extra in node.output[1:]:
            if extra and self.consumers.get(extra):
                raise _refuse(node, "its running statistics are used: export the model in eval mode")
        scale, beta, mean, var = (self.const(node, i, what).astype(np.float64).reshape(-1)
                                  for i, what in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var")))
        s = scale / np.sqrt(var + float(a.get("epsilon", 1e-5)))
        self.emit_affine(node, x, s, beta - mean * s)

    # -------------------------------------------------------------- element-wise ops

    def channel_vector(self, node: onnx.NodeProto, const: np.ndarray, x: _Act) -> np.ndarray:
        """A constant operand as one value per channel of x (scalars and (C, 1, 1)-style broadcasts)."""
        view = self.ir_view(x)
        c = np.asarray(const, dtype=np.float64)
        try:
            ok = np.broadcast_shapes(c.shape, view) == view
        except ValueError:
            ok = False
        if not ok:
            raise _refuse(node, f"constant of shape {c.shape} does not broadcast onto the {view} activation")
        axis = _CHANNEL_AXIS[x.layout]
        full = np.moveaxis(np.broadcast_to(c, view), axis, 0).reshape(view[axis], -1)
        if not np.all(full == full[:, :1]):
            raise _refuse(node, f"constant of shape {c.shape} varies across the image: only per-channel "
                                "or scalar constants are supported")
        return full[:, 0]

    def binary_const(self, node: onnx.NodeProto) -> bool:
        """Add/Sub/Mul/Div with one constant operand: an affine node. False if both are activations."""
        first, second = self.value(node, 0), self.value(node, 1)
        if not isinstance(first, np.ndarray) and not isinstance(second, np.ndarray):
            return False
        x_first = not isinstance(first, np.ndarray)
        x = self.act(node, 0 if x_first else 1)
        k = self.channel_vector(node, second if x_first else first, x)
        op = node.op_type
        if op == "Div" and not x_first:
            raise _refuse(node, "constant / activation is not supported (only activation / constant)")
        if op == "Div" and np.any(k == 0):
            raise _refuse(node, "division by a constant that holds zeros")
        if op == "Add":
            scale, shift = np.ones_like(k), k
        elif op == "Mul":
            scale, shift = k, np.zeros_like(k)
        elif op == "Div":
            scale, shift = 1.0 / k, np.zeros_like(k)
        else:  # Sub: x - k, or k - x
            scale, shift = (np.ones_like(k), -k) if x_first else (-np.ones_like(k), k)
        self.emit_affine(node, x, scale, shift)
        return True

    def op_Add(self, node: onnx.NodeProto) -> None:
        """a + b of equal shapes, a + Pad(b) with trailing zero channels (partial residual), or a + constant."""
        if self.binary_const(node):
            return
        padded = [i for i in (0, 1) if isinstance(self.value(node, i), _Padded)]
        if len(padded) == 1:
            big, pad = self.act(node, 1 - padded[0]), self.value(node, padded[0])
            small = pad.source
            hb, wb, cb = self.tensors[big.tensor].shape[1:]
            hs, ws, cs = self.tensors[small.tensor].shape[1:]
            if any(pad.pads) or small.layout != big.layout or (hs, ws, cs + pad.channels) != (hb, wb, cb):
                raise _refuse(node, f"takes Pad node '{pad.node}' with pads {pad.pads} (top, left, bottom, "
                                    "right): only trailing zero channels (a partial residual) are supported "
                                    "before an Add")
        else:
            big, small = self.act(node, 0), self.act(node, 1)
            if small.layout != big.layout or self.ir_view(big) != self.ir_view(small):
                raise _refuse(node, f"adds shapes {self.ir_view(big)} and {self.ir_view(small)}: only equal "
                                    "shapes are supported (no broadcasting)")
        ir = self.emit("add", [big.tensor, small.tensor], node.output[0], self.tensors[big.tensor].shape,
                       {"act": "none"})
        self.set(node, _Act(ir, big.layout))

    def op_Sub(self, node: onnx.NodeProto) -> None:
        if not self.binary_const(node):
            raise _refuse(node, "subtracting two activations is not supported (only activation - constant)")

    def op_Div(self, node: onnx.NodeProto) -> None:
        if not self.binary_const(node):
            raise _refuse(node, "dividing two activations is not supported (only activation / constant)")

    def op_Mul(self, node: onnx.NodeProto) -> None:
        """x * constant (affine), x * sigmoid(x) (swish), x * hardsigmoid(x) (hswish), or x * gate (SE)."""
        if self.binary_const(node):
            return
        a, b = self.act(node, 0), self.act(node, 1)
        for x, g in ((a, b), (b, a)):
            p = self.producer.get(g.tensor)
            if p is not None and p.op == "act" and p.inputs == [x.tensor] and x.layout == g.layout:
                func = {"sigmoid": "swish", "hsigmoid": "hswish"}.get(p.attrs["func"])
                if func is not None:
                    return self.emit_act(node, x, func)
        va, vb = self.ir_view(a), self.ir_view(b)
        sa, sb = self.tensors[a.tensor].shape, self.tensors[b.tensor].shape
        for x, g, sx, sg in ((a, b, sa, sb), (b, a, sb, sa)):
            if a.layout == b.layout and sg == (1, 1, 1, sx[3]):
                ir = self.emit("mul", [x.tensor, g.tensor], node.output[0], sx)
                return self.set(node, _Act(ir, x.layout))
        raise _refuse(node, f"multiplies shapes {va} and {vb}: supported are x * sigmoid(x), "
                            "x * hardsigmoid(x), a (1, C, H, W) tensor times a (1, C, 1, 1) gate, and constants")

    def op_Relu(self, node: onnx.NodeProto) -> None:
        self.emit_act(node, self.act(node), "relu")

    def op_Clip(self, node: onnx.NodeProto) -> None:
        a = _attrs(node)
        lo, hi = a.get("min", -math.inf), a.get("max", math.inf)
        if self.opset >= 11:
            lo_c = self.const(node, 1, "min", required=False)
            hi_c = self.const(node, 2, "max", required=False)
            lo = -math.inf if lo_c is None else float(lo_c)
            hi = math.inf if hi_c is None else float(hi_c)
        x = self.act(node)
        if lo == 0 and hi == 6:
            return self.emit_act(node, x, "relu6")
        if lo == 0 and hi >= _FLOAT_MAX:
            return self.emit_act(node, x, "relu")
        raise _refuse(node, f"clips to [{lo:g}, {hi:g}]: only [0, 6] (ReLU6) and [0, inf) (ReLU) are supported")

    def op_Sigmoid(self, node: onnx.NodeProto) -> None:
        self.emit_act(node, self.act(node), "sigmoid")

    def op_HardSwish(self, node: onnx.NodeProto) -> None:
        self.emit_act(node, self.act(node), "hswish")

    def op_HardSigmoid(self, node: onnx.NodeProto) -> None:
        a = _attrs(node)
        alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
        if not (math.isclose(alpha, 1 / 6, rel_tol=1e-6) and beta == 0.5):
            raise _refuse(node, f"alpha {alpha:g}, beta {beta:g}: only PyTorch's Hardsigmoid "
                                "(alpha 1/6, beta 0.5, i.e. relu6(x + 3) / 6) is supported")
        self.emit_act(node, self.act(node), "hsigmoid")

    # -------------------------------------------------------------- pooling

    def global_pool(self, node: onnx.NodeProto, x: _Act, layout: str) -> None:
        c = self.tensors[x.tensor].shape[3]
        ir = self.emit("global_avg_pool", [x.tensor], node.output[0], (1, 1, 1, c))
        self.set(node, _Act(ir, layout))

    def op_GlobalAveragePool(self, node: onnx.NodeProto) -> None:
        self.global_pool(node, self.act(node, 0, ("nchw",)), "nchw")

    def op_AveragePool(self, node: onnx.NodeProto) -> None:
        x = self.act(node, 0, ("nchw",))
        a = _attrs(node)
        _, h, w, _ = self.tensors[x.tensor].shape
        if tuple(a.get("kernel_shape", ())) != (h, w) or any(a.get("pads", ())) or \
                a.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID", "NOTSET", "VALID"):
            raise _refuse(node, f"kernel {list(a.get('kernel_shape', ()))} on a {h}x{w} image: only an "
                                "unpadded average over the whole image (a global pool) is supported")
        self.global_pool(node, x, "nchw")

    def op_ReduceMean(self, node: onnx.NodeProto) -> None:
        x = self.act(node, 0, ("nchw", "nhwc"))
        a = _attrs(node)
        axes = a.get("axes")
        if len(node.input) > 1 and node.input[1]:
            axes = self.const(node, 1, "axes").reshape(-1).tolist()
        spatial = {"nchw": {2, 3}, "nhwc": {1, 2}}[x.layout]
        if axes is None or {int(ax) % 4 for ax in axes} != spatial:
            raise _refuse(node, f"axes {axes}: only the mean over H and W (a global pool) is supported")
        keep = int(a.get("keepdims", 1))
        self.global_pool(node, x, x.layout if keep else "flat")

    # -------------------------------------------------------------- layout-only ops

    def alias(self, node: onnx.NodeProto, x: _Act) -> None:
        """Flatten/Reshape/Squeeze/Unsqueeze: a new ONNX view of the same IR tensor."""
        out = self.shape(node, node.output[0])
        if out == self.ir_view(x):
            return self.set(node, x)
        ir = self.tensors[x.tensor].shape
        layout = _layout_of(out, x.layout) if ir[1] == ir[2] == 1 else None
        if layout is None:
            raise _refuse(node, f"reshapes {self.ir_view(x)} to {out}: only 1x1 heads can be reshaped "
                                "((1, C, 1, 1) <-> (1, C)); pool to 1x1 first")
        self.set(node, _Act(x.tensor, layout))

    def op_Flatten(self, node: onnx.NodeProto) -> None:
        self.alias(node, self.act(node))

    def op_Reshape(self, node: onnx.NodeProto) -> None:
        self.alias(node, self.act(node))

    def op_Squeeze(self, node: onnx.NodeProto) -> None:
        self.alias(node, self.act(node))

    def op_Unsqueeze(self, node: onnx.NodeProto) -> None:
        self.alias(node, self.act(node))

    def op_Identity(self, node: onnx.NodeProto) -> None:
        self.set(node, self.act(node))

    def op_Dropout(self, node: onnx.NodeProto) -> None:
        if len(node.output) > 1 and node.output[1] and self.consumers.get(node.output[1]):
            raise _refuse(node, "its mask output is used: export the model in eval mode (model.eval())")
        train = self.const(node, 2, "training_mode", required=False) if len(node.input) > 2 else None
        if train is not None and bool(train):
            raise _refuse(node, "training_mode is true: export the model in eval mode (model.eval())")
        self.set(node, self.act(node))

    def op_Transpose(self, node: onnx.NodeProto) -> None:
        x = self.act(node)
        perm = tuple(_attrs(node).get("perm", ()))
        moves = {("nhwc", _TO_NCHW): "nchw", ("nchw", _TO_NHWC): "nhwc", ("flat", (0, 1)): "flat",
                 ("nchw", (0, 1, 2, 3)): "nchw", ("nhwc", (0, 1, 2, 3)): "nhwc"}
        layout = moves.get((x.layout, perm))
        if layout is None:
            raise _refuse(node, f"perm {list(perm)} on a {x.layout.upper()} tensor: only NHWC <-> NCHW "
                                "transposes are supported")
        self.set(node, _Act(x.tensor, layout))

    # -------------------------------------------------------------- channel ops

    def channel_axis(self, node: onnx.NodeProto, x: _Act, axis: int) -> None:
        rank = len(self.ir_view(x))
        if axis % rank != _CHANNEL_AXIS[x.layout]:
            raise _refuse(node, f"axis {axis} of a {x.layout.upper()} tensor: only the channel axis "
                                f"({_CHANNEL_AXIS[x.layout]}) is supported")

    def op_Concat(self, node: onnx.NodeProto) -> None:
        xs = [self.act(node, i) for i in range(len(node.input))]
        layout = xs[0].layout
        if any(x.layout != layout for x in xs):
            raise _refuse(node, "inputs in different layouts")
        self.channel_axis(node, xs[0], int(_attrs(node)["axis"]))
        if len(xs) == 1:
            return self.set(node, xs[0])
        ir = self.emit("concat", [x.tensor for x in xs], node.output[0], self.out_shape(node, layout))
        self.set(node, _Act(ir, layout))

    def slice_channels(self, node: onnx.NodeProto, x: _Act, begin: int, end: int, i: int) -> None:
        c = self.tensors[x.tensor].shape[3]
        if begin == 0 and end == c:
            return self.set(node, x, i)
        if not 0 <= begin < end <= c:
            raise _refuse(node, f"channels [{begin}, {end}) of {c}: the slice is empty")
        ir = self.emit("slice", [x.tensor], node.output[i], self.out_shape(node, x.layout, i),
                       {"begin": begin, "end": end})
        self.set(node, _Act(ir, x.layout), i)

    def op_Split(self, node: onnx.NodeProto) -> None:
        x = self.act(node)
        self.channel_axis(node, x, int(_attrs(node).get("axis", 0)))
        axis = _CHANNEL_AXIS[x.layout]
        begin = 0
        for i, out in enumerate(node.output):
            size = self.shape(node, out)[axis]
            if out:
                self.slice_channels(node, x, begin, begin + size, i)
            begin += size

    def slice_args(self, node: onnx.NodeProto, rank: int) -> tuple[list, list, list, list]:
        a = _attrs(node)
        if self.opset < 10:
            starts, ends = list(a["starts"]), list(a["ends"])
            axes = list(a.get("axes", range(len(starts))))
            return starts, ends, axes, [1] * len(starts)
        starts = self.const(node, 1, "starts").reshape(-1).tolist()
        ends = self.const(node, 2, "ends").reshape(-1).tolist()
        axes = self.const(node, 3, "axes", required=False)
        steps = self.const(node, 4, "steps", required=False)
        axes = list(range(len(starts))) if axes is None else axes.reshape(-1).tolist()
        steps = [1] * len(starts) if steps is None else steps.reshape(-1).tolist()
        return starts, ends, [int(ax) % rank for ax in axes], steps

    def op_Slice(self, node: onnx.NodeProto) -> None:
        x = self.act(node)
        view = self.ir_view(x)
        starts, ends, axes, steps = self.slice_args(node, len(view))
        begin, end = 0, view[_CHANNEL_AXIS[x.layout]]
        for s, e, ax, step in zip(starts, ends, axes, steps):
            dim = view[ax]
            lo, hi = (min(max(int(v) + dim if v < 0 else int(v), 0), dim) for v in (s, e))
            if step != 1:
                raise _refuse(node, f"step {step}: only step 1 is supported")
            if ax == _CHANNEL_AXIS[x.layout]:
                begin, end = lo, hi
            elif (lo, hi) != (0, dim):
                raise _refuse(node, f"slices axis {ax} of {view}: only channel slices are supported")
        self.slice_channels(node, x, begin, end, 0)

    def op_Pad(self, node: onnx.NodeProto) -> None:
        x = self.act(node, 0, ("nchw",))
        a = _attrs(node)
        mode = a.get("mode", b"constant")
        if (mode.decode() if isinstance(mode, bytes) else mode) != "constant":
            raise _refuse(node, f"mode {mode!r}: only constant zero padding is supported")
        if self.opset < 11:
            pads, value = list(a.get("pads", ())), float(a.get("value", 0.0))
        else:
            pads = self.const(node, 1, "pads").reshape(-1).tolist()
            v = self.const(node, 2, "constant_value", required=False)
            value = 0.0 if v is None or v.size == 0 else float(v.reshape(-1)[0])
            axes = self.const(node, 3, "axes", required=False)
            if axes is not None:
                full = [0] * 8
                names = [int(ax) % 4 for ax in axes.reshape(-1)]
                for j, ax in enumerate(names):
                    full[ax], full[ax + 4] = pads[j], pads[j + len(names)]
                pads = full
        if value != 0.0 or len(pads) != 8 or min(pads) < 0 or pads[0] or pads[4] or pads[1]:
            raise _refuse(node, f"pads {pads} value {value:g}: only zeros on H/W, or trailing zero channels, "
                                "are supported")
        spatial = (int(pads[2]), int(pads[3]), int(pads[6]), int(pads[7]))
        if any(spatial) and pads[5]:
            raise _refuse(node, f"pads {pads}: pads H/W and channels at once")
        if not any(spatial) and not pads[5]:
            return self.set(node, x)
        self.set(node, _Padded(x, spatial, int(pads[5]), node.name or node.output[0]))


# ------------------------------------------------------------------ step 3: simplify the IR

def _uses(nodes: list[Node], output: str) -> dict[str, int]:
    uses: dict[str, int] = {output: 1}
    for n in nodes:
        for t in n.inputs:
            uses[t] = uses.get(t, 0) + 1
    return uses


def _dead_code(nodes: list[Node], output: str) -> list[Node]:
    """Drop nodes nothing uses (a Sigmoid folded into a swish, unused Split outputs)."""
    live, keep = {output}, []
    for n in reversed(nodes):
        if n.outputs[0] in live:
            keep.append(n)
            live.update(n.inputs)
    return keep[::-1]


def _sole_producer(nodes: list[Node], node: Node, output: str, ops: tuple[str, ...]) -> Node | None:
    """The node producing ``node``'s input if ``node`` alone uses it and it may absorb ``node``."""
    uses = _uses(nodes, output)
    t = node.inputs[0]
    for p in nodes:
        if p.outputs[0] == t:
            ok = p.op in ops and p.attrs.get("act", "none") == "none" and uses.get(t) == 1
            return p if ok else None
    return None


def _scale_node(p: Node, scale: np.ndarray, shift: np.ndarray) -> None:
    """Fold y = p(x) * scale + shift (per output channel) into p's weights and bias."""
    w = p.params["weight"].astype(np.float64)
    w = w * scale if p.op == "depthwise" else w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    p.params = dict(p.params, weight=w.astype(np.float32),
                    bias=(p.params["bias"].astype(np.float64) * scale + shift).astype(np.float32))


def _fold_affine(nodes: list[Node], affine: set[str], output: str) -> list[Node]:
    """BatchNormalization and constant Add/Mul into the conv or fully_connected before them."""
    keep: list[Node] = []
    for i, n in enumerate(nodes):
        p = _sole_producer(keep + nodes[i:], n, output, _WEIGHTED) if n.name in affine else None
        if p is None:
            keep.append(n)
            continue
        _scale_node(p, n.params["weight"].reshape(-1).astype(np.float64), n.params["bias"].astype(np.float64))
        p.outputs = list(n.outputs)
    return keep


def _fuse(nodes: list[Node], output: str) -> list[Node]:
    """relu / relu6 act nodes into their producer's ``act`` (the IR's fused form)."""
    keep: list[Node] = []
    for i, n in enumerate(nodes):
        fusible = n.op == "act" and n.attrs["func"] in ("relu", "relu6")
        p = _sole_producer(keep + nodes[i:], n, output, _FUSIBLE) if fusible else None
        if p is None:
            keep.append(n)
            continue
        p.attrs = dict(p.attrs, act=n.attrs["func"])
        p.outputs = list(n.outputs)
    return keep


# ------------------------------------------------------------------ entry points

def import_model(model: onnx.ModelProto, name: str = "model", where: str | None = None) -> Graph:
    """The float Graph of an in-memory ONNX model (every refusal is a one-line UserError)."""
    where = where or f"ONNX model '{name}'"
    opset = _default_opset(model, where)
    _check_nodes(model)
    x = _check_io(model, where)
    folded = _fold_constants(model, where)
    graph = _Importer(folded, opset, _shapes(folded), where).run(x)
    graph.name = name
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    graph.meta = {"model": name, "opset": opset, "producer": producer}
    return graph


def import_onnx_file(path: str | Path) -> Graph:
    """Read and import an .onnx file; ``meta["source"]`` records its file name and SHA-256."""
    model, sha256 = load_model(path)
    graph = import_model(model, file_model_name(path), where=f"model file {path}")
    graph.meta["source"] = {"file": Path(path).name, "sha256": sha256}
    return graph
