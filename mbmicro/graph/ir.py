"""The small, explicit graph IR shared by the float model, the int8 model,
the reference interpreters, the ONNX exporter and code generation.

Why one IR for float and int8: quantization is a pass from one to the other
that keeps node names and topology, so a per-layer comparison (float vs int8,
reference vs generated C) lines up by name.

Conventions
-----------
* Every activation tensor is 4-D NHWC with batch 1: ``(1, H, W, C)``.  The
  global average pool yields ``(1, 1, 1, C)`` and the classifier
  ``(1, 1, 1, classes)``; this keeps one layout rule for every kernel.
* Nodes are stored in execution (topological) order.
* Padding is TensorFlow SAME for every size (see :func:`same_padding`).

Ops (``Node.op``) and their attributes / params
-------------------------------------------------
``conv2d``      attrs: kernel (kh, kw), stride, pad (top, left, bottom, right),
                groups, act ("none" | "relu" | "relu6")
                params: weight (O, KH, KW, I // groups), bias (O,)
``depthwise``   attrs: as conv2d without groups (channel multiplier 1)
                params: weight (KH, KW, C), bias (C,)
``fully_connected`` attrs: act; params: weight (N, C), bias (N,)
                input (1, 1, 1, C) -> output (1, 1, 1, N)
``add``         inputs a, b; b may have fewer channels than a: it is then
                added to the first channels of a (ReXNet's partial residual).
                attrs: act
``global_avg_pool`` (1, H, W, C) -> (1, 1, 1, C)
``mul``         inputs x (1, H, W, C), gate (1, 1, 1, C): channel broadcast (SE)
``act``         float graph only: attrs func ("hswish" | "swish" | "sigmoid" |
                "hsigmoid" | "relu" | "relu6")
``lut``         int8 graph only (replaces ``act``): attrs func;
                params table (256,) int8, indexed by ``x + 128``
``concat``      along channels; int8: all inputs share the output's qparams
``slice``       along channels: attrs begin, end; int8: same qparams as input
``softmax``     over channels: attrs beta; int8 (TFLite's fixed-point softmax,
                output scale 1/256, zero point -128) also input_multiplier,
                input_left_shift, diff_min (arith.tflite_softmax_params)

In the int8 graph, nodes additionally carry the requantization params
described in :mod:`mbmicro.reference.arith` (``multiplier``/``shift`` arrays) and
``act_min``/``act_max`` clamp bounds in attrs; tensors carry scale and
zero point.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

OPS = (
    "conv2d",
    "depthwise",
    "fully_connected",
    "add",
    "global_avg_pool",
    "mul",
    "act",
    "lut",
    "concat",
    "slice",
    "softmax",
)

ACTIVATION_FUNCS = ("none", "relu", "relu6", "hswish", "swish", "sigmoid", "hsigmoid")


@dataclass
class Tensor:
    """An activation tensor. scale/zero_point are None in the float graph."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    scale: float | None = None
    zero_point: int | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclass
class Node:
    """One operation. ``params`` hold constant arrays (weights, bias, tables,
    requantization multipliers); ``attrs`` hold small Python values."""

    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r} in node {self.name!r}")


@dataclass
class Graph:
    """A model: tensors by name, nodes in execution order, one input, one output."""

    name: str
    tensors: dict[str, Tensor]
    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def input(self) -> Tensor:
        return self.tensors[self.inputs[0]]

    @property
    def output(self) -> Tensor:
        return self.tensors[self.outputs[0]]

    @property
    def is_quantized(self) -> bool:
        return self.input.dtype == "int8"

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def producers(self) -> dict[str, Node]:
        return {t: n for n in self.nodes for t in n.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {t: [] for t in self.tensors}
        for n in self.nodes:
            for t in n.inputs:
                out[t].append(n)
        return out

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def copy(self) -> "Graph":
        """Deep-enough copy: new containers, shared (read-only) arrays."""
        return Graph(
            name=self.name,
            tensors={k: dataclasses.replace(v) for k, v in self.tensors.items()},
            nodes=[
                dataclasses.replace(n, inputs=list(n.inputs), outputs=list(n.outputs),
                                    attrs=dict(n.attrs), params=dict(n.params))
                for n in self.nodes
            ],
            inputs=list(self.inputs),
            outputs=list(self.outputs),
            meta=dict(self.meta),
        )

    def validate(self) -> None:
        """Check topological order and that every tensor is defined once."""
        defined = set(self.inputs)
        for n in self.nodes:
            for t in n.inputs:
                if t not in defined:
                    raise ValueError(f"node {n.name}: input {t} used before it is produced")
            for t in n.outputs:
                if t in defined:
                    raise ValueError(f"node {n.name}: tensor {t} produced twice")
                defined.add(t)
        for t in self.outputs:
            if t not in defined:
                raise ValueError(f"graph output {t} is never produced")


def conv_out_size(size: int, stride: int) -> int:
    """Output size under TensorFlow SAME padding: ceil(size / stride)."""
    return -(-size // stride)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after) along one axis.

    Why SAME: MCU resolutions such as 80, 96, 144 or 176 are not halved
    evenly by every stride-2 layer; SAME gives ceil(size/stride) outputs for
    any size and puts the odd pixel of padding after (bottom/right), which
    ONNX expresses with explicit asymmetric ``pads``.
    """
    out = conv_out_size(size, stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


#: A 1x1 stride-1 conv2d with at most this many groups runs as the pointwise GEMM on
#: block-diagonal dense weights (codegen/ops/pointwise.py dense_weight: G times its MACs, on every
#: target's fast pointwise kernel).  Here because the build (codegen/ops) and the size estimate
#: that may not import codegen (models/estimate.py) must make the same choice.
DENSE_GROUPS_MAX = 4


def runs_dense(node: Node) -> bool:
    """Whether ``node`` is a 1x1 stride-1 conv2d the build runs as a dense GEMM (groups <= DENSE_GROUPS_MAX)."""
    return (node.op == "conv2d" and tuple(node.attrs.get("kernel", (1, 1))) == (1, 1)
            and int(node.attrs.get("stride", 1)) == 1 and int(node.attrs.get("groups", 1)) <= DENSE_GROUPS_MAX)


def macs(graph: Graph, node: Node) -> int:
    """Multiply-accumulates of one node (0 for data movement)."""
    out = graph.tensors[node.outputs[0]]
    oh, ow, oc = out.shape[1], out.shape[2], out.shape[3]
    if node.op == "conv2d":
        kh, kw = node.attrs["kernel"]
        cin = graph.tensors[node.inputs[0]].shape[3] // node.attrs.get("groups", 1)
        return oh * ow * oc * kh * kw * cin
    if node.op == "depthwise":
        kh, kw = node.attrs["kernel"]
        return oh * ow * oc * kh * kw
    if node.op == "fully_connected":
        return oc * graph.tensors[node.inputs[0]].shape[3]
    if node.op in ("add", "mul"):
        return oh * ow * oc
    if node.op == "global_avg_pool":
        return graph.tensors[node.inputs[0]].size
    return 0


def param_count(node: Node) -> int:
    """Learned parameters (weights + bias) of one node."""
    return sum(int(node.params[k].size) for k in ("weight", "bias") if k in node.params)
