"""Model options -> (float graph, int8 graph), and seeded test inputs.

Why one function: every command and test that needs "the int8 model for
these options" must build the same float weights and quantize them with the
same calibration, or per-layer comparisons between them would not line up.
A model is a built-in name (Table A, seeded weights), a path to a float
.onnx file (mbmicro.formats.onnx_import; from the float graph on, it takes the
built-in models' path) or to a QDQ .onnx file (mbmicro.formats.onnx_qdq_import:
int8 already, with its own scales, so no calibration).  A full-integer .tflite
is int8 too: it is imported as the int8 graph (mbmicro.formats.tflite_import)
and has no float graph (None).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from mbmicro.errors import UserError
from mbmicro.graph.ir import Graph
from mbmicro.models.builder import build_from_config
from mbmicro.models.options import ModelConfig, check_options
from mbmicro.reference.arith import dequantize, quantize
from mbmicro.quant.ptq import quantize_graph


def make_model(model: str, width: float = 1.0, resolution: int = 224, classes: int = 1000, seed: int = 0,
               calibration: str | Path | np.ndarray | None = None) -> tuple[Graph, Graph]:
    """Build (or, for an .onnx path, import) the float graph for the options and quantize it.

    ``calibration``: None (seeded random images), a .npy path or an image
    array (see :func:`mbmicro.quant.ptq.quantize_graph`).  Bad options raise
    UserError.  A model file quantized on random images gets a warning on
    stderr: its trained ranges are not those of uniform noise.  A QDQ .onnx
    file is imported with its own scales and zero points; a calibration for it
    is refused (it would be ignored).
    """
    cfg = check_options(model, width, resolution, classes, seed)
    if is_tflite(cfg.file):
        return None, tflite_graph_for(cfg, calibration)
    if cfg.file is not None:
        float_graph, int8_graph = _import_file(cfg.file)
        if int8_graph is not None:  # a QDQ model: its own scales, no calibration
            if calibration is not None:
                raise UserError(f"model file {cfg.file} is a quantized (QDQ) model with fixed scales: "
                                "drop --calibration (or pass its float model to quantize it with calibration)")
            return float_graph, int8_graph
    else:
        float_graph = float_graph_for(cfg)
    if cfg.file is not None and calibration is None:
        sys.stderr.write(RANDOM_CALIBRATION_WARNING + "\n")
    return float_graph, quantize_graph(float_graph, calibration, seed=seed)


RANDOM_CALIBRATION_WARNING = ("mbmicro: warning: random calibration images: only for smoke tests; "
                              "pass --calibration FILE.npy (images preprocessed as the model expects)")


def float_graph_for(cfg: ModelConfig) -> Graph:
    """The float graph of checked options: built from Table A, or imported from the model file."""
    if is_tflite(cfg.file):
        raise UserError(f"model file {cfg.file} is an int8 .tflite and has no float graph; "
                        "use it with mbmicro build (then run / verify)")
    if cfg.file is None:
        return build_from_config(cfg)
    return _import_file(cfg.file)[0]


def _import_file(path: str | Path) -> tuple[Graph, Graph | None]:
    """(float graph, int8 graph or None) of a model file: a QDQ .onnx carries its own int8 graph."""
    from mbmicro.formats.onnx_qdq_import import import_file  # imports onnx: only when a file is given

    return import_file(path)


def is_tflite(path: str | None) -> bool:
    """Whether a model file is a .tflite (already int8: imported, not quantized)."""
    return path is not None and str(path).lower().endswith(".tflite")


def tflite_graph_for(cfg: ModelConfig, calibration=None) -> Graph:
    """The int8 graph of a full-integer .tflite (mbmicro.formats.tflite_import); it has no float graph."""
    if calibration is not None:
        raise UserError(f"model file {cfg.file} is already quantized (int8 .tflite): drop --calibration")
    from mbmicro.formats.tflite_import import import_tflite_file  # imports tflite: only when a file is given

    return import_tflite_file(cfg.file)


def random_input(graph: Graph, seed: int) -> np.ndarray:
    """One seeded float32 image (1, H, W, 3), uniform in [-1, 1] (the float model's input range)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=tuple(graph.input.shape)).astype(np.float32)


def quantize_input(int8_graph: Graph, x: np.ndarray) -> np.ndarray:
    """Float input -> the int8 graph's input tensor (round half to even, saturating)."""
    t = int8_graph.input
    return quantize(x, t.scale, t.zero_point)


def dequantize_output(int8_graph: Graph, y: np.ndarray) -> np.ndarray:
    """int8 output -> float32 with the output tensor's qparams."""
    t = int8_graph.output
    return dequantize(y, t.scale, t.zero_point)
