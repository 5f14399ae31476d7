"""Export the int8 graph to ONNX in QDQ form (QuantizeLinear / DequantizeLinear).

Why QDQ and not QLinear* ops: QDQ states the int8 model as "the float model
with every tensor rounded to its int8 grid", which any ONNX runtime can run
and which onnxruntime fuses back into integer kernels (QLinearConv, ...)
on its own.  It is the standard exchange form of a quantized network.

What is exported, node by node (the float math comes from
:func:`mbmicro.formats.onnx_float.emit_op`, so the two exports cannot drift):

* every activation tensor t: ``Q(t.scale, t.zero_point)`` then ``DQ``, int8;
* weights: int8 initializers in ONNX layout + per-channel DequantizeLinear
  (axis 0, zero points 0) with the node's ``weight_scale``;
* bias: int32 initializer + DequantizeLinear with scale ``sx * sw[c]``;
* ``lut`` nodes: the float function between DQ and Q (the table is that
  function sampled at the 256 inputs, so QDQ reproduces it up to ties);
* fused ReLU/ReLU6 as Relu/Clip(0, 6) when the node's act_min/act_max are
  exactly what that activation implies, else a Clip to the dequantized
  act_min/act_max, so the clamp is always the reference's.

The integer requantization of the reference (single rounding, ties up) is
not expressible in QDQ: runtimes requantize in float with ties to even.
Per-op results therefore agree within +-1 LSB, not bit for bit.  Measured
with onnxruntime 1.32 on x86 (tests/test_onnx_qdq.py): whether it runs a
float Conv (its default for s8 weights there), fused s8s8 QLinearConv
(``session.qdqisint8allowed``) or u8s8 QLinearConv (after its s8->u8
conversion, the path of a whole model), about 1 output in 10^5-10^6 differs,
by 1, at or next to a .5 tie; ``mul`` differs most (1 in 10^4: its
products hit exact ties).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from mbmicro.graph.ir import Graph, Node
from mbmicro.formats.onnx_float import (TO_NCHW, OnnxBuilder, emit_op, emit_output, input_name, onnx_weight,
                                  tensor_names)
from mbmicro.reference.arith import activation_bounds

IO_MODES = ("float", "int8")
_CLAMPED_OPS = ("conv2d", "depthwise", "fully_connected", "add", "mul")


def _q_dq(b: OnnxBuilder, graph: Graph, t: str, name: str, src: str, src_is_int8: bool = False) -> str:
    """Round float tensor src to t's int8 grid (Q) and back (DQ) into name."""
    tensor = graph.tensors[t]
    if tensor.scale is None or tensor.zero_point is None:
        raise ValueError(f"tensor {t} has no scale/zero point: is this the int8 graph?")
    scale = b.const(f"{name}.scale", np.float32(tensor.scale))
    zp = b.const(f"{name}.zero_point", np.int8(tensor.zero_point))
    q = src if src_is_int8 else b.op("QuantizeLinear", [src, scale, zp], f"{name}.q", name=f"{name}/Q")
    return b.op("DequantizeLinear", [q, scale, zp], name, name=f"{name}/DQ")


def _params(b: OnnxBuilder, graph: Graph, node: Node) -> tuple[str | None, str | None]:
    """int8 weight and int32 bias initializers with their DequantizeLinear."""
    if "weight" not in node.params:
        return None, None
    n = node.name
    w = onnx_weight(node, np.asarray(node.params["weight"], dtype=np.int8))
    sw = np.asarray(node.params["weight_scale"], dtype=np.float32).reshape(-1)
    channels = w.shape[0]
    if sw.size != channels:
        raise ValueError(f"node {n}: {sw.size} weight scales for {channels} output channels")
    w_dq = b.op("DequantizeLinear", [b.const(f"{n}.weight_q", w), b.const(f"{n}.weight_scale", sw),
                                     b.const(f"{n}.weight_zp", np.zeros(channels, np.int8))],
                f"{n}.weight", name=f"{n}/weight/DQ", axis=0)
    sx = np.float32(graph.tensors[node.inputs[0]].scale)
    bias_q = np.asarray(node.params["bias"], dtype=np.int32).reshape(-1)
    b_dq = b.op("DequantizeLinear", [b.const(f"{n}.bias_q", bias_q), b.const(f"{n}.bias_scale", sx * sw),
                                     b.const(f"{n}.bias_zp", np.zeros(channels, np.int32))],
                f"{n}.bias", name=f"{n}/bias/DQ", axis=0)
    return w_dq, b_dq


def _clamp(graph: Graph, node: Node) -> tuple[str | None, tuple[int, int] | None]:
    """(activation to emit, explicit int8 clamp bounds or None) for one node."""
    if node.op not in _CLAMPED_OPS:
        return None, None
    lo, hi = int(node.attrs.get("act_min", -128)), int(node.attrs.get("act_max", 127))
    act = node.attrs.get("act", "none")
    y = graph.tensors[node.outputs[0]]
    if act in ("none", "relu", "relu6") and activation_bounds(act, y.scale, y.zero_point) == (lo, hi):
        return act, None
    return "none", (lo, hi)


def _emit_node(b: OnnxBuilder, graph: Graph, node: Node, names: dict[str, str]) -> str:
    """One int8 node: float math on dequantized inputs, then Q/DQ of its output."""
    y_name = names[node.outputs[0]]
    weight, bias = _params(b, graph, node)
    act, bounds = _clamp(graph, node)
    ins = [names[t] for t in node.inputs]
    pre = f"{y_name}.f"
    if bounds is None:
        emit_op(b, graph, node, ins, pre, weight, bias, act=act)
    else:
        y = graph.tensors[node.outputs[0]]
        emit_op(b, graph, node, ins, f"{y_name}.raw", weight, bias, act="none")
        lo = b.const(f"{node.name}.clip_min", np.float32((bounds[0] - y.zero_point) * y.scale))
        hi = b.const(f"{node.name}.clip_max", np.float32((bounds[1] - y.zero_point) * y.scale))
        b.op("Clip", [f"{y_name}.raw", lo, hi], pre, name=f"{node.name}/Clip")
    return _q_dq(b, graph, node.outputs[0], y_name, pre)


def export_qdq(graph: Graph, io: str = "float") -> onnx.ModelProto:
    """The int8 IR graph as a QDQ ONNX model.

    io="float": input "input" float32 NHWC, quantized in the model; output
    "output" float32 (the dequantized int8 result), a drop-in for the float
    export.  io="int8": inputs and output are the int8 tensors themselves
    (NHWC), for bit-level checks against the reference.  Several graph
    inputs (one-node graphs) become "input", "input_1", ...
    """
    if io not in IO_MODES:
        raise ValueError(f"io must be one of {IO_MODES}, got {io!r}")
    if not graph.is_quantized:
        raise ValueError(f"graph {graph.name!r} is float; quantize it first or use "
                         "mbmicro.formats.onnx_float.export_float")
    if len(graph.outputs) != 1:
        raise ValueError("the QDQ export needs exactly one graph output")
    b = OnnxBuilder()
    names = tensor_names(graph)
    in_infos = []
    for i, t in enumerate(graph.inputs):
        io_name = input_name(i)
        shape = list(graph.tensors[t].shape)
        elem = TensorProto.FLOAT if io == "float" else TensorProto.INT8
        in_infos.append(helper.make_tensor_value_info(io_name, elem, shape))
        nchw = b.op("Transpose", [io_name], f"{names[t]}.{'f' if io == 'float' else 'q'}",
                    name=f"{io_name}/Transpose", perm=TO_NCHW)
        _q_dq(b, graph, t, names[t], nchw, src_is_int8=(io == "int8"))
    for node in graph.nodes:
        _emit_node(b, graph, node, names)
    last = names[graph.outputs[0]]
    if io == "float":
        out_info = emit_output(b, graph, last, TensorProto.FLOAT)
    else:
        out_info = emit_output(b, graph, f"{last}.q", TensorProto.INT8)
    model = b.model(graph.name, in_infos, [out_info])
    onnx.checker.check_model(model)
    return model

