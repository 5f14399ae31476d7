"""Test helper: TensorFlow Lite Micro's Python interpreter as the oracle of an int8 .tflite."""

from __future__ import annotations

import numpy as np
from tflite_micro.python.tflite_micro import runtime


def tflm_output(data: bytes, x: np.ndarray) -> np.ndarray:
    """Output 0 of the model ``data`` run by TFLite Micro on input ``x`` (reshaped to its input)."""
    it = runtime.Interpreter.from_bytes(data)
    it.set_input(x.reshape(it.get_input_details(0)["shape"]), 0)
    it.invoke()
    return it.get_output(0)
