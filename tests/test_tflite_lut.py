"""The NumPy twins of TFLite's integer HARD_SWISH and LOGISTIC (mbmicro.quant.lut)
against TensorFlow Lite Micro on all 256 int8 inputs, for seeded random qparams:
a table is only exact if it runs TFLite's own fixed-point steps."""

import sys
from pathlib import Path

import numpy as np
import pytest
from tflite_micro.python.tflite_micro import runtime

from mbmicro.quant.lut import make_table, tflite_hard_swish_table, tflite_logistic_table

sys.path.insert(0, str(Path(__file__).parent / "data"))
import make_tflite  # noqa: E402

ALL = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 1, 256)


def _tflm(op, in_q, out_q) -> np.ndarray:
    m = make_tflite.ModelWriter("act", 0)
    x, y = m.act("in", (1, 1, 1, 256), *in_q), m.act("out", (1, 1, 1, 256), *out_q)
    m.op(op, [x], [y])
    m.inputs, m.outputs = [x], [y]
    it = runtime.Interpreter.from_bytes(m.finish())
    it.set_input(ALL, 0)
    it.invoke()
    return it.get_output(0).ravel()


def _scale(rng, lo, hi) -> float:
    return float(np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


@pytest.mark.parametrize("seed", range(12))
def test_hard_swish_table_equals_tflite_micro(seed):
    rng = np.random.default_rng(seed)
    sx, sy = _scale(rng, 0.003, 0.3), _scale(rng, 0.003, 0.3)
    zx, zy = (int(v) for v in rng.integers(-128, 128, 2))
    want = _tflm(make_tflite.Op.HARD_SWISH, (sx, zx), (sy, zy))
    assert np.array_equal(tflite_hard_swish_table(sx, zx, sy, zy), want)


@pytest.mark.parametrize("seed", range(12))
def test_logistic_table_equals_tflite_micro(seed):
    rng = np.random.default_rng(100 + seed)
    sx, zx = _scale(rng, 0.002, 0.6), int(rng.integers(-128, 128))
    want = _tflm(make_tflite.Op.LOGISTIC, (sx, zx), (1.0 / 256.0, -128))
    assert np.array_equal(tflite_logistic_table(sx, zx), want)


def test_the_rounded_float_table_is_not_tflite_hard_swish():
    """Why the twin exists: the float-rounded table of the default path differs from TFLite's."""
    rng = np.random.default_rng(5)
    differs = 0
    for _ in range(6):
        sx, sy = _scale(rng, 0.01, 0.2), _scale(rng, 0.01, 0.2)
        zx, zy = (int(v) for v in rng.integers(-100, 100, 2))
        differs += int(np.any(make_table("hswish", sx, zx, sy, zy) != tflite_hard_swish_table(sx, zx, sy, zy)))
    assert differs > 0
