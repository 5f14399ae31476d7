"""Integer-only NumPy reference interpreter for the int8 graph: the oracle.

Every generated C kernel must equal these functions bit for bit, so each op
is one pure function that follows docs/INT8_SEMANTICS.md literally and
requantizes only through :func:`mbmicro.reference.arith.requantize_by` (the graph's rule).

Why float64 matmuls in an integer reference: the products ``(x - zx) * w``
are below 2**15 in magnitude, so any dot product shorter than 2**38 terms is
an exact integer in float64 (< 2**53).  BLAS then computes the exact integer
accumulator, which is cast to int64 before the bias and requantization; this
keeps a 224x224 MobileNetV2 at a few seconds without changing a single bit.
"""

from __future__ import annotations

import numpy as np

from mbmicro.errors import UserError
from mbmicro.graph.ir import Graph, Node
from mbmicro.reference.arith import ADD_LEFT_SHIFT, add_single, clamp_int8, divide_round_away, requant_rule, requantize_by

#: Largest dot-product length for which the float64 accumulation is exact.
_EXACT_TERMS = 2**53 // (255 * 128)


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _scalar(v) -> int:
    """The single value of a (1,) multiplier/shift array (or a plain int)."""
    return int(np.asarray(v).reshape(-1)[0])


def _padded_centered(x: np.ndarray, x_zp: int, pad, dtype) -> np.ndarray:
    """``x - x_zp`` padded with zeros: padding with the zero point, as the contract says."""
    top, left, bottom, right = (int(p) for p in pad)
    xs = x.astype(dtype) - dtype(x_zp)
    return np.pad(xs, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _taps(xp: np.ndarray, kh: int, kw: int, stride: tuple[int, int], oh: int, ow: int):
    """Yield (i, j, view) for every kernel tap: the strided input window it reads."""
    sh, sw = stride
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]


def _out_size(xp: np.ndarray, kh: int, kw: int, stride: tuple[int, int]) -> tuple[int, int]:
    return (xp.shape[1] - kh) // stride[0] + 1, (xp.shape[2] - kw) // stride[1] + 1


def _finish(acc: np.ndarray, multiplier, shift, y_zp: int, act_min: int, act_max: int,
            rule: str = "single") -> np.ndarray:
    """requantize (by the graph's rule) + output zero point + clamp: the common tail of every op."""
    return clamp_int8(requantize_by(rule, acc, multiplier, shift) + int(y_zp), int(act_min), int(act_max))


def conv2d(x, weight, bias, multiplier, shift, *, x_zp, y_zp, stride, pad, groups, act_min, act_max, rule="single"):
    """Grouped 2-D convolution, NHWC input, weight (O, KH, KW, I/groups)."""
    o, kh, kw, ig = weight.shape
    groups = int(groups)
    if x.shape[3] != ig * groups or o % groups:
        raise ValueError(f"conv2d: input channels {x.shape[3]} / weight {weight.shape} / groups {groups} disagree")
    if kh * kw * ig > _EXACT_TERMS:
        raise ValueError("conv2d: dot product too long for exact float64 accumulation")
    stride = _pair(stride)
    xp = _padded_centered(x, x_zp, pad, np.float64)
    oh, ow = _out_size(xp, kh, kw, stride)
    og = o // groups
    wf = weight.astype(np.float64)
    acc = np.zeros((oh * ow, o), dtype=np.float64)
    for i, j, view in _taps(xp, kh, kw, stride, oh, ow):
        cols = view.reshape(oh * ow, ig * groups)
        for g in range(groups):
            acc[:, g * og:(g + 1) * og] += cols[:, g * ig:(g + 1) * ig] @ wf[g * og:(g + 1) * og, i, j, :].T
    acc = acc.astype(np.int64).reshape(1, oh, ow, o) + bias.astype(np.int64)
    return _finish(acc, multiplier, shift, y_zp, act_min, act_max, rule)


def depthwise(x, weight, bias, multiplier, shift, *, x_zp, y_zp, stride, pad, act_min, act_max, rule="single"):
    """Depthwise convolution (channel multiplier 1), weight (KH, KW, C)."""
    kh, kw, c = weight.shape
    if x.shape[3] != c:
        raise ValueError(f"depthwise: input channels {x.shape[3]} != weight channels {c}")
    stride = _pair(stride)
    xp = _padded_centered(x, x_zp, pad, np.int64)
    oh, ow = _out_size(xp, kh, kw, stride)
    w = weight.astype(np.int64)
    acc = np.zeros((1, oh, ow, c), dtype=np.int64)
    for i, j, view in _taps(xp, kh, kw, stride, oh, ow):
        acc += view * w[i, j]
    acc += bias.astype(np.int64)
    return _finish(acc, multiplier, shift, y_zp, act_min, act_max, rule)


def fully_connected(x, weight, bias, multiplier, shift, *, x_zp, y_zp, act_min, act_max, rule="single"):
    """Dense layer on a (1, 1, 1, C) input, weight (N, C); output (1, 1, 1, N)."""
    n, c = weight.shape
    if x.size != c:
        raise ValueError(f"fully_connected: input of {x.size} values for weight {weight.shape}")
    xs = x.reshape(c).astype(np.float64) - float(x_zp)
    acc = (weight.astype(np.float64) @ xs).astype(np.int64) + bias.astype(np.int64)
    return _finish(acc.reshape(1, 1, 1, n), multiplier, shift, y_zp, act_min, act_max, rule)


def add(a, b, multiplier, shift, *, a_zp, b_zp, y_zp, act_min, act_max, rule="single"):
    """a + b rescaled to the output scale; b may cover only the first channels of a.

    The default rule rounds once (:func:`mbmicro.reference.arith.add_single`,
    multiplier [Ma, Mb], shift [f]); the "tflite" rule is TFLite's: both inputs
    shifted left by 20 and requantized to a common scale, then the sum requantized
    (multiplier and shift of 3 values each).
    """
    cb = b.shape[3]
    if a.shape[:3] != b.shape[:3] or cb > a.shape[3]:
        raise ValueError(f"add: shapes {a.shape} and {b.shape} cannot be added")
    m, s = np.asarray(multiplier).reshape(-1), np.asarray(shift).reshape(-1)
    if rule == "single":
        if m.size != 2 or s.size != 1:
            raise UserError(f"add has {m.size} multipliers and {s.size} shifts, the default rule's add takes "
                            "2 and 1 (a graph quantized before mbmicro's one-rounding add): rebuild it "
                            "with 'mbmicro build'")
        b1 = np.zeros(a.shape, np.int64)
        b1[..., :cb] = b.astype(np.int64) - int(b_zp)
        total = add_single(a.astype(np.int64) - int(a_zp), b1, m, s)
        return clamp_int8(total + int(y_zp), int(act_min), int(act_max))
    a1 = requantize_by(rule, (a.astype(np.int64) - int(a_zp)) << ADD_LEFT_SHIFT, m[0], s[0])
    b1 = requantize_by(rule, (b.astype(np.int64) - int(b_zp)) << ADD_LEFT_SHIFT, m[1], s[1])
    a1[..., :cb] += b1
    return _finish(a1, m[2], s[2], y_zp, act_min, act_max, rule)


def global_avg_pool(x, multiplier, shift, *, x_zp, y_zp, rule="single", pool="mean", act_min=-128, act_max=127):
    """Mean over H and W: (1, H, W, C) -> (1, 1, 1, C).

    The mean is folded into the requantization (real M = sx / (sy H W)); for
    "tflite" graphs M is TFLite MEAN's (arith.tflite_mean_multiplier) and the
    clamp is the node's, or, with ``pool="average"``, the op is TFLite's
    AVERAGE_POOL_2D over the whole map: no multiplier (same qparams in and
    out), the raw sum divided with round-away C division, clamped.
    """
    if rule != "tflite":
        acc = (x.astype(np.int64) - int(x_zp)).sum(axis=(1, 2), keepdims=True)
        return _finish(acc, _scalar(multiplier), _scalar(shift), y_zp, -128, 127, rule)
    n = x.shape[1] * x.shape[2]
    if pool == "average":
        acc = x.astype(np.int64).sum(axis=(1, 2), keepdims=True)
        return clamp_int8(divide_round_away(acc, n), int(act_min), int(act_max))
    if pool != "mean":
        raise ValueError(f"global_avg_pool: unknown pool {pool!r} (mean | average)")
    acc = (x.astype(np.int64) - int(x_zp)).sum(axis=(1, 2), keepdims=True)
    return _finish(acc, _scalar(multiplier), _scalar(shift), y_zp, act_min, act_max, rule)


def mul(x, gate, multiplier, shift, *, x_zp, gate_zp, y_zp, act_min, act_max, rule="single"):
    """Channel-broadcast product (squeeze-and-excitation): gate is (1, 1, 1, C)."""
    if gate.shape != (1, 1, 1, x.shape[3]):
        raise ValueError(f"mul: gate shape {gate.shape} does not broadcast over {x.shape}")
    acc = (x.astype(np.int64) - int(x_zp)) * (gate.astype(np.int64) - int(gate_zp))
    return _finish(acc, _scalar(multiplier), _scalar(shift), y_zp, act_min, act_max, rule)


def lut(x, table):
    """Element-wise table lookup: ``table[x + 128]``."""
    return np.asarray(table, dtype=np.int8)[x.astype(np.int16) + 128]


def concat(xs):
    """Channel concatenation (inputs already share the output's qparams)."""
    return np.concatenate(list(xs), axis=3)


def slice_channels(x, begin, end):
    """Channels [begin, end) of x (same qparams as x)."""
    return np.ascontiguousarray(x[..., int(begin):int(end)])


def run_node(graph: Graph, node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    """Execute one int8 node given its input arrays; reads qparams from the graph."""
    t = graph.tensors
    zp = [t[name].zero_point for name in node.inputs]
    y_zp = t[node.outputs[0]].zero_point
    p, a = node.params, node.attrs
    rule = requant_rule(graph)
    clamp = {"act_min": a.get("act_min", -128), "act_max": a.get("act_max", 127), "rule": rule}
    if node.op == "conv2d":
        return conv2d(inputs[0], p["weight"], p["bias"], p["multiplier"], p["shift"], x_zp=zp[0], y_zp=y_zp,
                      stride=a["stride"], pad=a["pad"], groups=a.get("groups", 1), **clamp)
    if node.op == "depthwise":
        return depthwise(inputs[0], p["weight"], p["bias"], p["multiplier"], p["shift"], x_zp=zp[0], y_zp=y_zp,
                         stride=a["stride"], pad=a["pad"], **clamp)
    if node.op == "fully_connected":
        return fully_connected(inputs[0], p["weight"], p["bias"], p["multiplier"], p["shift"],
                               x_zp=zp[0], y_zp=y_zp, **clamp)
    if node.op == "add":
        return add(inputs[0], inputs[1], p["multiplier"], p["shift"], a_zp=zp[0], b_zp=zp[1], y_zp=y_zp, **clamp)
    if node.op == "global_avg_pool":
        return global_avg_pool(inputs[0], p["multiplier"], p["shift"], x_zp=zp[0], y_zp=y_zp,
                               pool=a.get("pool", "mean"), **clamp)
    if node.op == "mul":
        return mul(inputs[0], inputs[1], p["multiplier"], p["shift"], x_zp=zp[0], gate_zp=zp[1], y_zp=y_zp, **clamp)
    if node.op == "lut":
        return lut(inputs[0], p["table"])
    if node.op == "concat":
        return concat(inputs)
    if node.op == "slice":
        return slice_channels(inputs[0], a["begin"], a["end"])
    raise ValueError(f"node {node.name}: op {node.op!r} has no int8 reference (is this a float graph?)")


def run_int8(graph: Graph, x_int8: np.ndarray, collect: bool = False):
    """Run the int8 graph on one int8 NHWC input.

    Returns the output array, or with ``collect`` a dict of every tensor by
    name (input included), for per-layer comparison against generated C.
    """
    if not graph.is_quantized:
        raise UserError(f"model {graph.name!r} is a float graph; quantize it first (mbmicro.quant.ptq.quantize_graph)")
    x = np.asarray(x_int8)
    want = tuple(graph.input.shape)
    if x.dtype != np.int8 or tuple(x.shape) != want:
        raise UserError(f"int8 input must be an int8 array of shape {want}, got {x.dtype} {x.shape}; "
                        "quantize it with the input tensor's scale and zero point")
    values = {graph.inputs[0]: x}
    for node in graph.nodes:
        out = run_node(graph, node, [values[name] for name in node.inputs])
        expected = tuple(graph.tensors[node.outputs[0]].shape)
        if out.shape != expected:
            raise ValueError(f"node {node.name}: produced shape {out.shape}, graph says {expected}")
        values[node.outputs[0]] = out
    return values if collect else values[graph.outputs[0]]
