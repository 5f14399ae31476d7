"""The float reference interpreter: runs a float Graph with NumPy.

Why it exists: it defines what the float model computes, so the int8 model,
the ONNX export and the generated C are all compared against it.  Every op is
a plain function of arrays (importable, e.g. by the ONNX exporter's tests) and
works on any batch size N (the builder calibrates its weights on a batch).

Speed (a 224x224 MobileNetV2 in well under 2 s): a 1x1 conv is one matmul; a
KxK conv is a loop over taps with one matmul per tap; a depthwise conv is a
loop over taps with strided slices.  Math is float32 with float32 outputs.
"""

from __future__ import annotations

import numpy as np

from mbmicro.errors import UserError
from mbmicro.graph.ir import Graph, Node


# --------------------------------------------------------------- activations
def _sigmoid(x: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warning for large |x|, same value as 1/(1+e^-x)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 6.0)


ACTIVATIONS = {
    "none": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": _relu6,
    "hswish": lambda x: x * _relu6(x + 3.0) / 6.0,
    "hsigmoid": lambda x: _relu6(x + 3.0) / 6.0,
    "swish": lambda x: x * _sigmoid(x),
    "sigmoid": _sigmoid,
}


def activation(x: np.ndarray, func: str) -> np.ndarray:
    """Apply one of graph.ACTIVATION_FUNCS element-wise (float32 out).

    This is the float definition the int8 lookup tables are made from.
    """
    try:
        fn = ACTIVATIONS[func]
    except KeyError:
        raise ValueError(f"unknown activation {func!r}") from None
    return np.asarray(fn(np.asarray(x, dtype=np.float32)), dtype=np.float32)


# --------------------------------------------------------------- convolution
def _pad(x: np.ndarray, pad: tuple[int, int, int, int]) -> np.ndarray:
    top, left, bottom, right = pad
    if not any(pad):
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _out_hw(h: int, w: int, kernel: tuple[int, int], stride: int,
            pad: tuple[int, int, int, int]) -> tuple[int, int]:
    kh, kw = kernel
    top, left, bottom, right = pad
    return (h + top + bottom - kh) // stride + 1, (w + left + right - kw) // stride + 1


def _tap(xp: np.ndarray, i: int, j: int, oh: int, ow: int, stride: int) -> np.ndarray:
    return xp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride, :]


def _dense_1x1(w: np.ndarray, groups: int) -> np.ndarray:
    """(O, 1, 1, I/groups) grouped weight -> (O, I) block-diagonal dense weight."""
    o, ig = w.shape[0], w.shape[3]
    if groups == 1:
        return w.reshape(o, ig)
    og = o // groups
    dense = np.zeros((o, ig * groups), dtype=w.dtype)
    for g in range(groups):
        dense[g * og:(g + 1) * og, g * ig:(g + 1) * ig] = w[g * og:(g + 1) * og, 0, 0, :]
    return dense


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1,
           pad: tuple[int, int, int, int] = (0, 0, 0, 0), groups: int = 1,
           act: str = "none") -> np.ndarray:
    """NHWC conv; weight (O, KH, KW, I // groups), bias (O,), explicit pads."""
    x = np.asarray(x, dtype=np.float32)
    o, kh, kw, ig = weight.shape
    n, h, w, c = x.shape
    if c != ig * groups or o % groups:
        raise ValueError(f"conv2d: input channels {c}, weight {weight.shape}, groups {groups}")
    oh, ow = _out_hw(h, w, (kh, kw), stride, pad)
    og = o // groups
    w32 = weight.astype(np.float32)
    if kh == kw == 1 and not any(pad):
        xs = x[:, ::stride, ::stride, :] if stride > 1 else x
        # a grouped 1x1 is one matmul with a block-diagonal weight: a single
        # BLAS call beats per-group calls on strided slices
        out = (xs.reshape(-1, c) @ _dense_1x1(w32, groups).T).reshape(n, oh, ow, o)
    else:
        xp = _pad(x, pad)
        out = np.zeros((n * oh * ow, o), dtype=np.float32)
        for i in range(kh):
            for j in range(kw):
                tap = _tap(xp, i, j, oh, ow, stride).reshape(-1, c)
                for g in range(groups):
                    out[:, g * og:(g + 1) * og] += (
                        tap[:, g * ig:(g + 1) * ig] @ w32[g * og:(g + 1) * og, i, j, :].T)
        out = out.reshape(n, oh, ow, o)
    out += bias.astype(np.float32)
    return activation(out, act)


def depthwise(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1,
              pad: tuple[int, int, int, int] = (0, 0, 0, 0), act: str = "none") -> np.ndarray:
    """NHWC depthwise conv (channel multiplier 1); weight (KH, KW, C), bias (C,)."""
    x = np.asarray(x, dtype=np.float32)
    kh, kw, c = weight.shape
    if x.shape[3] != c:
        raise ValueError(f"depthwise: input channels {x.shape[3]}, weight {weight.shape}")
    oh, ow = _out_hw(x.shape[1], x.shape[2], (kh, kw), stride, pad)
    xp = _pad(x, pad)
    w32 = weight.astype(np.float32)
    out = np.empty((x.shape[0], oh, ow, c), dtype=np.float32)
    out[...] = bias.astype(np.float32)
    for i in range(kh):
        for j in range(kw):
            out += _tap(xp, i, j, oh, ow, stride) * w32[i, j]
    return activation(out, act)


def fully_connected(x: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                    act: str = "none") -> np.ndarray:
    """(N, 1, 1, C) -> (N, 1, 1, O); weight (O, C)."""
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    out = x.reshape(n, -1) @ weight.astype(np.float32).T + bias.astype(np.float32)
    return activation(out.reshape(n, 1, 1, -1), act)


# --------------------------------------------------------- the other ops
def add(a: np.ndarray, b: np.ndarray, act: str = "none") -> np.ndarray:
    """a + b; a b with fewer channels is added to a's first channels (ReXNet)."""
    out = np.array(a, dtype=np.float32, copy=True)
    out[..., :b.shape[-1]] += b
    return activation(out, act)


def global_avg_pool(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N, 1, 1, C) mean over H and W."""
    return np.asarray(x, dtype=np.float32).mean(axis=(1, 2), keepdims=True, dtype=np.float64) \
        .astype(np.float32)


def mul(x: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """x (N, H, W, C) times gate (N, 1, 1, C), broadcast over H and W (SE)."""
    return (np.asarray(x, dtype=np.float32) * np.asarray(gate, dtype=np.float32)).astype(np.float32)


def concat(xs: list[np.ndarray]) -> np.ndarray:
    """Channel concatenation."""
    return np.concatenate([np.asarray(x, dtype=np.float32) for x in xs], axis=3)


def slice_channels(x: np.ndarray, begin: int, end: int) -> np.ndarray:
    """x[..., begin:end]."""
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32)[..., begin:end])


def softmax(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """exp(beta * x) / sum(exp(beta * x)) over the last axis (channels), in float64 for the sum."""
    z = np.asarray(x, dtype=np.float64) * float(beta)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


# --------------------------------------------------------------- the graph
def run_node(node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    """Evaluate one float node on its input arrays."""
    a, p = node.attrs, node.params
    if node.op == "conv2d":
        return conv2d(inputs[0], p["weight"], p["bias"], a["stride"], tuple(a["pad"]),
                      a.get("groups", 1), a.get("act", "none"))
    if node.op == "depthwise":
        return depthwise(inputs[0], p["weight"], p["bias"], a["stride"], tuple(a["pad"]),
                         a.get("act", "none"))
    if node.op == "fully_connected":
        return fully_connected(inputs[0], p["weight"], p["bias"], a.get("act", "none"))
    if node.op == "add":
        return add(inputs[0], inputs[1], a.get("act", "none"))
    if node.op == "global_avg_pool":
        return global_avg_pool(inputs[0])
    if node.op == "mul":
        return mul(inputs[0], inputs[1])
    if node.op == "act":
        return activation(inputs[0], a["func"])
    if node.op == "softmax":
        return softmax(inputs[0], a.get("beta", 1.0))
    if node.op == "concat":
        return concat(inputs)
    if node.op == "slice":
        return slice_channels(inputs[0], a["begin"], a["end"])
    raise ValueError(f"node {node.name}: op {node.op!r} is not a float op")


def run_float(graph: Graph, x: np.ndarray, collect: bool = False):
    """Run a float graph on x (N, H, W, 3) float32 NHWC (N is normally 1).

    Returns the output array, or with ``collect`` a dict tensor name -> array
    holding every tensor (the input included).  Without ``collect``, tensors
    are dropped after their last use to keep memory low.
    """
    if graph.is_quantized:
        raise ValueError("run_float needs the float graph, got an int8 graph")
    x = np.asarray(x, dtype=np.float32)
    want = graph.input.shape
    if x.ndim != 4 or x.shape[1:] != tuple(want[1:]):
        raise UserError(f"input has shape {x.shape}, model '{graph.name}' needs "
                        f"{tuple(want)}: pass an NHWC float32 array of that shape")
    last_use: dict[str, int] = {}
    for idx, node in enumerate(graph.nodes):
        for t in node.inputs:
            last_use[t] = idx
    values: dict[str, np.ndarray] = {graph.inputs[0]: x}
    keep = set(graph.outputs)
    for idx, node in enumerate(graph.nodes):
        out = run_node(node, [values[t] for t in node.inputs])
        values[node.outputs[0]] = out
        if not collect:
            for t in set(node.inputs):
                if last_use.get(t) == idx and t not in keep:
                    del values[t]
    return values if collect else values[graph.outputs[0]]
