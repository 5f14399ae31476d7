"""Post-training quantization: float Graph -> int8 Graph (docs/INT8_SEMANTICS.md).

Why this shape of pass: node names and topology are kept (only ``act``
becomes ``lut``), so every per-layer comparison -- float vs int8, reference
vs generated C, ONNX QDQ vs reference -- lines up by name.

Choices, and why:

* Weights: per-output-channel symmetric int8 in [-127, 127] (TFLite), scale
  ``max|w| / 127``; an all-zero channel gets scale 1.0 so nothing divides by 0.
* Activations: asymmetric per-tensor from the calibration min/max with 0
  included (so zero padding and ReLU are exact): ``scale = (max - min) / 255``,
  ``zp = rint(-128 - min / scale)`` clipped to int8.  Scales are rounded to
  float32 so the ONNX QDQ export carries exactly the scales used here.
* Sigmoid / hard-sigmoid outputs use scale 1/256, zero point -128 (TFLite):
  their range [0, 1] is known, calibration adds nothing.
* concat inputs and output, and slice input and output, must share qparams
  (so neither op requantizes): such tensors form one group whose range is
  the union of the members' ranges, and the producers are quantized to it.
* Calibration images are float32 NHWC in the float model's input range
  [-1, 1]; uint8 images are mapped with ``x / 127.5 - 1``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from mbmicro.errors import UserError
from mbmicro.graph.files import load_npy
from mbmicro.graph.images import CalibrationFolder, Preprocess, load_image_folder
from mbmicro.reference.float32 import run_float
from mbmicro.graph.ir import Graph, Node
from mbmicro.quant.lut import FIXED_OUTPUT_QPARAMS, make_table
from mbmicro.reference.arith import activation_bounds, add_multipliers, mul_multiplier, quantize_multipliers

#: Smallest activation scale: a tensor whose range is below 255 * MIN_SCALE
#: is treated as constant 0 (and requantization ratios stay far below 2**30).
MIN_SCALE = 1e-6

#: Largest |value| of a float calibration image: the model's input is about [-1, 1], and even
#: unnormalized 0..255 pixels stay far below it.
MAX_PIXEL = 1e4

#: |bias| limit in int32: leaves room for the accumulator and for kernels that
#: fold ``-zx * sum(w)`` into the bias, all in int32.
BIAS_LIMIT = 2**28


# ------------------------------------------------------------------ calibration data

def load_images(path: str | Path, graph: Graph, what: str = "image file",
                preprocess: Preprocess | None = None) -> np.ndarray:
    """Read a user's images for ``graph``: float32 (N, H, W, 3) in the model's input range.

    A .npy: (N, H, W, 3) or (H, W, 3), float32/float64 (used as they are, already
    preprocessed) or uint8 (mapped x / 127.5 - 1).  It is read by
    mbmicro.graph.files.load_npy, which refuses an empty file, an .npz, a pipe or a
    header claiming more than 1 GiB before allocating.
    A folder: its image files at any depth, sorted, at most
    mbmicro.graph.images.MAX_CALIBRATION_IMAGES, each made into the model's input by
    ``preprocess`` (default: the "tf" scaling, [-1, 1]).
    """
    if Path(path).is_dir():
        crop = tuple(graph.input.shape[1:3])
        arr = load_image_folder(path, preprocess or Preprocess(), crop, what=what.replace("file", "folder"))
        return check_images(arr, graph, what=f"{what.replace('file', 'folder')} {path}")
    return check_images(load_npy(path, what), graph, what=f"{what} {path}")


def load_calibration(path: str | Path, graph: Graph, preprocess: Preprocess | None = None) -> np.ndarray:
    """Calibration images from a .npy or a folder of images (see :func:`load_images`)."""
    return load_images(path, graph, what="calibration file", preprocess=preprocess)


def check_images(arr: np.ndarray, graph: Graph, what: str = "images") -> np.ndarray:
    """Validate and normalize an image batch to float32 (N, H, W, 3).

    Float values beyond +-MAX_PIXEL are refused: they are no image (1e30 would
    make requantization scales overflow deep in quantization)."""
    _, h, w, c = graph.input.shape
    shape = tuple(arr.shape)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or tuple(arr.shape[1:]) != (h, w, c) or arr.shape[0] == 0:
        raise UserError(f"{what} has shape {shape}; expected (N, {h}, {w}, {c}) or ({h}, {w}, {c}) "
                        f"for resolution {h} (or pass the matching --resolution)")
    if arr.dtype == np.uint8:
        return (arr.astype(np.float32) / np.float32(127.5) - np.float32(1.0)).astype(np.float32)
    if arr.dtype not in (np.float32, np.float64):
        raise UserError(f"{what} has dtype {arr.dtype}; expected float32/float64 in [-1, 1] or uint8 images")
    if not np.all(np.isfinite(arr)):
        raise UserError(f"{what} contains NaN or infinity; pass finite images in [-1, 1]")
    peak = float(np.max(np.abs(arr)))
    if peak > MAX_PIXEL:
        raise UserError(f"{what} has values up to {peak:g} in magnitude; pass images in [-1, 1] "
                        f"(or uint8 pixels), nothing beyond +-{MAX_PIXEL:g}")
    return arr.astype(np.float32)


def random_calibration(graph: Graph, seed: int, count: int) -> np.ndarray:
    """``count`` seeded uniform [-1, 1] images (a different stream from pipeline.random_input)."""
    rng = np.random.default_rng((seed, 0xCA1))
    return rng.uniform(-1.0, 1.0, size=(count,) + tuple(graph.input.shape[1:])).astype(np.float32)


def tensor_ranges(graph: Graph, images: np.ndarray, batch: int = 4) -> dict[str, tuple[float, float]]:
    """Min and max of every tensor of the float graph over the images (run in small batches)."""
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    for start in range(0, images.shape[0], batch):
        for name, value in run_float(graph, images[start:start + batch], collect=True).items():
            lo[name] = min(lo.get(name, np.inf), float(np.min(value)))
            hi[name] = max(hi.get(name, -np.inf), float(np.max(value)))
    return {name: (lo[name], hi[name]) for name in lo}


# ------------------------------------------------------------------ qparams

def qparams_from_range(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 (scale, zero point) covering [lo, hi] and 0."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = float(np.float32(max((hi - lo) / 255.0, MIN_SCALE)))
    zp = int(np.clip(np.rint(-128.0 - lo / scale), -128, 127))
    return scale, zp


def _shared_groups(graph: Graph) -> dict[str, str]:
    """Union-find over tensors that must share qparams (concat, slice); tensor -> root."""
    parent = {name: name for name in graph.tensors}

    def find(t: str) -> str:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for node in graph.nodes:
        if node.op in ("concat", "slice"):
            for t in node.inputs:
                parent[find(t)] = find(node.outputs[0])
    return {name: find(name) for name in graph.tensors}


def choose_qparams(graph: Graph, ranges: dict[str, tuple[float, float]]) -> dict[str, tuple[float, int]]:
    """(scale, zero point) of every tensor of the float graph."""
    root = _shared_groups(graph)
    members: dict[str, list[str]] = {}
    for name, r in root.items():
        members.setdefault(r, []).append(name)
    fixed = {n.outputs[0]: FIXED_OUTPUT_QPARAMS[n.attrs["func"]]
             for n in graph.nodes if n.op == "act" and n.attrs["func"] in FIXED_OUTPUT_QPARAMS}
    out: dict[str, tuple[float, int]] = {}
    for r, names in members.items():
        if len(names) == 1 and names[0] in fixed:
            out[names[0]] = fixed[names[0]]
            continue
        known = [ranges[n] for n in names if n in ranges]
        if not known:
            raise ValueError(f"tensor {names[0]} has no calibration range (never computed by the float graph?)")
        q = qparams_from_range(min(k[0] for k in known), max(k[1] for k in known))
        out.update({n: q for n in names})
    return out


# ------------------------------------------------------------------ weights and nodes

def _weight_axis(op: str) -> int:
    return -1 if op == "depthwise" else 0


def quantize_weights(node: Node, x_scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-output-channel symmetric int8 weight, its float32 scales and the int32 bias."""
    axis = _weight_axis(node.op)
    w = np.moveaxis(np.asarray(node.params["weight"], dtype=np.float64), axis, 0)
    bias = np.asarray(node.params.get("bias", np.zeros(w.shape[0])), dtype=np.float64)
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    scale = np.where(amax > 0, amax / 127.0, 1.0)
    scale = np.maximum(scale, np.abs(bias) / (x_scale * BIAS_LIMIT))  # keep the int32 bias small
    scale = scale.astype(np.float32).astype(np.float64)
    shape = (-1,) + (1,) * (w.ndim - 1)
    wq = np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    bq = np.clip(np.rint(bias / (x_scale * scale)), -BIAS_LIMIT, BIAS_LIMIT).astype(np.int32)
    return np.ascontiguousarray(np.moveaxis(wq, 0, axis)), scale.astype(np.float32), bq


def _clamp_attrs(node: Node, qp: tuple[float, int]) -> dict:
    lo, hi = activation_bounds(node.attrs.get("act", "none"), qp[0], qp[1])
    return {"act_min": int(lo), "act_max": int(hi)}


def quantize_node(graph: Graph, node: Node, qp: dict[str, tuple[float, int]],
                  weights: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> Node:
    """The int8 node for one node of the float ``graph``, given every tensor's (scale, zp).

    ``weights``: (int8 weight, float32 scales, int32 bias) already quantized, as an
    imported QDQ model carries them (formats/onnx_qdq_import.py); None quantizes the
    float weights here (:func:`quantize_weights`)."""
    sx, zx = qp[node.inputs[0]]
    sy, zy = qp[node.outputs[0]]
    attrs, params, op = dict(node.attrs), {}, node.op
    if op in ("conv2d", "depthwise", "fully_connected"):
        wq, ws, bq = quantize_weights(node, sx) if weights is None else weights
        mult, shift = quantize_multipliers(sx * ws.astype(np.float64) / sy)
        params = {"weight": wq, "bias": bq, "multiplier": mult, "shift": shift, "weight_scale": ws}
        attrs.update(_clamp_attrs(node, (sy, zy)))
    elif op == "add":
        mult, shift = add_multipliers(sx, qp[node.inputs[1]][0], sy)
        params = {"multiplier": mult, "shift": shift}
        attrs.update(_clamp_attrs(node, (sy, zy)))
    elif op == "global_avg_pool":
        _, h, w, _ = graph.tensors[node.inputs[0]].shape
        params = dict(zip(("multiplier", "shift"), quantize_multipliers(np.array([sx / (sy * h * w)]))))
    elif op == "mul":
        sg = qp[node.inputs[1]][0]
        params = dict(zip(("multiplier", "shift"), mul_multiplier(sx * sg / sy)))
        attrs.update(_clamp_attrs(node, (sy, zy)))
    elif op == "act":
        op, attrs = "lut", {"func": node.attrs["func"]}
        params = {"table": make_table(node.attrs["func"], sx, zx, sy, zy)}
    elif op not in ("concat", "slice"):
        raise ValueError(f"node {node.name}: cannot quantize op {op!r}")
    return Node(name=node.name, op=op, inputs=list(node.inputs), outputs=list(node.outputs),
                attrs=attrs, params=params)


# ------------------------------------------------------------------ the pass

def quantize_graph(float_graph: Graph, calibration=None, *, seed: int = 0, num_calibration: int = 8) -> Graph:
    """Quantize a float graph to int8.

    ``calibration``: None (``num_calibration`` seeded random uniform [-1, 1]
    images), a float/uint8 image array (N, H, W, 3) or (H, W, 3), a path
    to a .npy holding one or to a folder of image files, or a
    mbmicro.graph.images.CalibrationFolder (a folder and its preprocessing).  ``graph.meta["calibration"]`` records which:
    "random", the path, or "array".
    """
    if float_graph.is_quantized:
        raise UserError(f"model {float_graph.name!r} is already int8; quantize its float graph instead")
    if calibration is None:
        images, source = random_calibration(float_graph, seed, num_calibration), "random"
    elif isinstance(calibration, (str, Path)):
        images, source = load_calibration(calibration, float_graph), str(calibration)
    elif isinstance(calibration, CalibrationFolder):
        images = load_calibration(calibration.path, float_graph, calibration.preprocess)
        source = str(calibration.path)
    else:
        images, source = check_images(np.asarray(calibration), float_graph), "array"
    qp = choose_qparams(float_graph, tensor_ranges(float_graph, images))
    nodes = [quantize_node(float_graph, node, qp) for node in float_graph.nodes]
    tensors = {name: dataclasses.replace(t, dtype="int8", scale=qp[name][0], zero_point=qp[name][1])
               for name, t in float_graph.tensors.items()}
    meta = dict(float_graph.meta, calibration=source, num_calibration=int(images.shape[0]))
    graph = Graph(name=float_graph.name, tensors=tensors, nodes=nodes, inputs=list(float_graph.inputs),
                  outputs=list(float_graph.outputs), meta=meta)
    graph.validate()
    return graph
