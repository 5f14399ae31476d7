"""Export the float graph to ONNX, and the float math shared with the QDQ export.

Why one module holds both the float export and the per-op float math: the
int8 model is exported as QDQ (mbmicro.formats.onnx_qdq), which is the *same* float
computation with QuantizeLinear/DequantizeLinear around it.  Emitting every
op through :func:`emit_op` keeps the two exports from drifting apart.

Layout: the IR is NHWC, ONNX convolutions are NCHW.  The model input
``input`` stays NHWC ``(1, H, W, 3)`` like the IR (so the same arrays feed
both), one Transpose turns it to NCHW, and every IR tensor is NCHW inside
the ONNX graph.  A ``(1, 1, 1, N)`` output is flattened to ``(1, N)``; any
other output is transposed back to NHWC.

Determinism: node and initializer names derive from IR names only and the
model carries no timestamps, so the same graph always gives the same bytes.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mbmicro import __version__
from mbmicro.graph.ir import Graph, Node

OPSET = 17
#: IR version 8 is the one that introduced opset 17; older runtimes load it.
IR_VERSION = 8
TO_NCHW = [0, 3, 1, 2]
TO_NHWC = [0, 2, 3, 1]


class OnnxBuilder:
    """Collects ONNX nodes and initializers under deterministic names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._init_names: set[str] = set()

    def const(self, name: str, array) -> str:
        """Add an initializer once (repeated names must hold the same value)."""
        if name not in self._init_names:
            self._init_names.add(name)
            self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str, name: str | None = None, **attrs) -> str:
        """Append one node with a single output; returns the output name."""
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=name or output, **attrs))
        return output

    def model(self, graph_name: str, inputs: list, outputs: list) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, graph_name, inputs, outputs, initializer=self.initializers)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mbmicro", producer_version=__version__)
        m.ir_version = IR_VERSION
        return m


def onnx_weight(node: Node, weight: np.ndarray) -> np.ndarray:
    """IR weight -> ONNX Conv weight (O, I/groups, KH, KW), dtype kept.

    conv2d (O,KH,KW,I/g) -> transpose; depthwise (KH,KW,C) -> (C,1,KH,KW);
    fully_connected (N,C) -> a 1x1 Conv (N,C,1,1), which keeps the graph 4-D NCHW.
    """
    if node.op == "conv2d":
        return np.ascontiguousarray(weight.transpose(0, 3, 1, 2))
    if node.op == "depthwise":
        return np.ascontiguousarray(weight.transpose(2, 0, 1)[:, None, :, :])
    if node.op == "fully_connected":
        return np.ascontiguousarray(weight[:, :, None, None])
    raise ValueError(f"node {node.name}: op {node.op!r} has no weight")


def conv_attrs(node: Node) -> dict:
    """ONNX Conv attributes; IR pad (top, left, bottom, right) is ONNX pads' order."""
    if node.op == "fully_connected":
        return {"kernel_shape": [1, 1], "strides": [1, 1], "pads": [0, 0, 0, 0], "group": 1}
    stride = node.attrs.get("stride", 1)
    stride = list(stride) if isinstance(stride, (tuple, list)) else [stride, stride]
    if node.op == "depthwise":
        group = int(node.params["weight"].shape[2])
    else:
        group = int(node.attrs.get("groups", 1))
    return {"kernel_shape": [int(k) for k in node.attrs["kernel"]], "strides": [int(s) for s in stride],
            "pads": [int(p) for p in node.attrs["pad"]], "group": group}


def emit_activation(b: OnnxBuilder, func: str, x: str, out: str) -> str:
    """Float activation ``func`` from tensor x into out (Identity for "none")."""
    if func == "none":
        return b.op("Identity", [x], out)
    if func == "relu":
        return b.op("Relu", [x], out)
    if func == "relu6":
        return b.op("Clip", [x, b.const("const.zero", np.float32(0)), b.const("const.six", np.float32(6))], out)
    if func == "hswish":
        return b.op("HardSwish", [x], out)
    if func == "hsigmoid":
        return b.op("HardSigmoid", [x], out, alpha=1.0 / 6.0, beta=0.5)
    if func == "sigmoid":
        return b.op("Sigmoid", [x], out)
    if func == "swish":
        return b.op("Mul", [x, b.op("Sigmoid", [x], f"{out}.sigmoid")], out)
    raise ValueError(f"unknown activation {func!r}")


def emit_op(b: OnnxBuilder, graph: Graph, node: Node, ins: list[str], out: str,
            weight: str | None = None, bias: str | None = None, act: str | None = None) -> str:
    """Emit the float computation of one IR node (NCHW) into ``out``.

    ``ins`` are the ONNX names of the node's inputs, ``weight``/``bias`` the
    ONNX names of its float Conv weight and bias, ``act`` overrides the fused
    activation (the QDQ export clamps on its own when it must).
    """
    act = node.attrs.get("act", "none") if act is None else act
    pre = out if act == "none" else f"{out}.pre"
    n = node.name
    if node.op in ("conv2d", "depthwise", "fully_connected"):
        b.op("Conv", [ins[0], weight, bias], pre, name=f"{n}/Conv", **conv_attrs(node))
    elif node.op == "add":
        other = ins[1]
        ca, cb = graph.tensors[node.inputs[0]].shape[3], graph.tensors[node.inputs[1]].shape[3]
        if cb < ca:  # partial residual: zero channels after b's own
            pads = b.const(f"{n}.pads", np.array([0, 0, 0, 0, 0, ca - cb, 0, 0], dtype=np.int64))
            other = b.op("Pad", [other, pads], f"{n}.padded", name=f"{n}/Pad", mode="constant")
        b.op("Add", [ins[0], other], pre, name=f"{n}/Add")
    elif node.op == "global_avg_pool":
        b.op("GlobalAveragePool", [ins[0]], pre, name=f"{n}/GlobalAveragePool")
    elif node.op == "mul":
        b.op("Mul", [ins[0], ins[1]], pre, name=f"{n}/Mul")
    elif node.op in ("act", "lut"):
        return emit_activation(b, node.attrs["func"], ins[0], out)
    elif node.op == "concat":
        b.op("Concat", list(ins), pre, name=f"{n}/Concat", axis=1)
    elif node.op == "slice":
        starts = b.const(f"{n}.starts", np.array([int(node.attrs["begin"])], dtype=np.int64))
        ends = b.const(f"{n}.ends", np.array([int(node.attrs["end"])], dtype=np.int64))
        axes = b.const("const.axis1", np.array([1], dtype=np.int64))
        b.op("Slice", [ins[0], starts, ends, axes], pre, name=f"{n}/Slice")
    else:
        raise ValueError(f"node {n}: op {node.op!r} cannot be exported to ONNX")
    if act != "none":
        emit_activation(b, act, pre, out)
    return out


def tensor_names(graph: Graph) -> dict[str, str]:
    """IR tensor name -> ONNX tensor name, keeping "input"/"output" for the model's I/O."""
    reserved = {"input", "output"}
    return {t: (f"{t}.t" if t in reserved else t) for t in graph.tensors}


def input_name(i: int) -> str:
    """ONNX name of graph input i: "input", then "input_1", "input_2", ..."""
    return "input" if i == 0 else f"input_{i}"


def node_graph(graph: Graph, node: Node) -> Graph:
    """A one-node graph (its inputs become graph inputs): per-layer checks of either export."""
    inputs = list(dict.fromkeys(node.inputs))
    keep = inputs + list(node.outputs)
    return Graph(name=f"{graph.name}.{node.name}", tensors={t: graph.tensors[t] for t in keep},
                 nodes=[node], inputs=inputs, outputs=list(node.outputs), meta={})


def emit_output(b: OnnxBuilder, graph: Graph, src: str, elem_type: int) -> onnx.ValueInfoProto:
    """NCHW tensor src -> model output "output": (1, N) for (1,1,1,N), else NHWC."""
    shape = tuple(graph.output.shape)
    if shape[1] == 1 and shape[2] == 1:
        b.op("Flatten", [src], "output", name="output/Flatten", axis=1)
        return helper.make_tensor_value_info("output", elem_type, [shape[0], shape[3]])
    b.op("Transpose", [src], "output", name="output/Transpose", perm=TO_NHWC)
    return helper.make_tensor_value_info("output", elem_type, list(shape))


def export_float(graph: Graph) -> onnx.ModelProto:
    """The float IR graph as an ONNX model: NHWC float32 "input" -> "output".

    Graphs with several inputs (one-node graphs from :func:`node_graph`)
    get inputs "input", "input_1", ... in ``graph.inputs`` order.
    """
    if graph.is_quantized:
        raise ValueError(f"graph {graph.name!r} is int8; export it with mbmicro.formats.onnx_qdq.export_qdq")
    if len(graph.outputs) != 1:
        raise ValueError("the ONNX export needs exactly one graph output")
    b = OnnxBuilder()
    names = tensor_names(graph)
    in_infos = []
    for i, t in enumerate(graph.inputs):
        in_infos.append(helper.make_tensor_value_info(input_name(i), TensorProto.FLOAT, list(graph.tensors[t].shape)))
        b.op("Transpose", [input_name(i)], names[t], name=f"{input_name(i)}/Transpose", perm=TO_NCHW)
    for node in graph.nodes:
        weight = bias = None
        if "weight" in node.params:
            weight = b.const(f"{node.name}.weight", onnx_weight(node, node.params["weight"]).astype(np.float32))
            bias = b.const(f"{node.name}.bias", node.params["bias"].astype(np.float32))
        emit_op(b, graph, node, [names[t] for t in node.inputs], names[node.outputs[0]], weight, bias)
    out_info = emit_output(b, graph, names[graph.outputs[0]], TensorProto.FLOAT)
    model = b.model(graph.name, in_infos, [out_info])
    onnx.checker.check_model(model)
    return model
