"""Make full-integer int8 .tflite MobileNetV2 models with Keras and the TFLite converter.

Why: issue 8's TFLite benchmark (benchmarks/imports.py) must import what a
firmware engineer gets from TensorFlow -- ``keras.applications.MobileNetV2``
through ``tf.lite.TFLiteConverter`` with full-integer quantization -- and
compare mbmicro's C with TensorFlow Lite Micro on it.  mbmicro itself never
needs TensorFlow.

Each model: ``keras.applications.MobileNetV2(input_shape=(96, 96, 3),
alpha=ALPHA, weights=None, classes=10, classifier_activation=None)``
(logits: mbmicro refuses a SOFTMAX), random init seeded with
``keras.utils.set_random_seed``.  Random init leaves every BatchNormalization
at mean 0 / variance 1; one forward pass in training mode with momentum 0 on
seeded uniform [-1, 1] images sets each one's moving statistics to those of
its input, as a trained model's are.  Then the converter quantizes it with
``Optimize.DEFAULT``, a representative dataset of seeded uniform [-1, 1]
images (MobileNetV2's input range), ``TFLITE_BUILTINS_INT8`` only and int8
input and output.

Writes ``DIR/mobilenetv2_<alpha>_96.tflite`` and ``DIR/manifest.json``
(versions, SHA-256 of each file; benchmarks/imports.py copies it into its
results).

Run it in a venv with TensorFlow (not a dependency of mbmicro)::

    python3 -m venv /tmp/venv-tf
    /tmp/venv-tf/bin/pip install tensorflow-cpu
    /tmp/venv-tf/bin/python tools/keras_tflite.py [-o out/keras-tflite]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "out" / "keras-tflite"
ALPHAS = (0.35, 1.0)
RESOLUTION, CLASSES = 96, 10
BN_IMAGES, REPRESENTATIVE_IMAGES = 16, 32


def images(n: int, seed: int) -> np.ndarray:
    """Seeded uniform [-1, 1] float32 images, NHWC."""
    return np.random.default_rng(seed).uniform(-1, 1, (n, RESOLUTION, RESOLUTION, 3)).astype(np.float32)


def set_batchnorm_statistics(model: keras.Model, seed: int) -> None:
    """Moving mean and variance of every BatchNormalization := those of its input on seeded images."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(images(BN_IMAGES, seed), training=True)


def make_model(alpha: float, seed: int) -> keras.Model:
    """Keras MobileNetV2 at ``alpha``, 96 px, 10 logits, seeded random weights."""
    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(input_shape=(RESOLUTION, RESOLUTION, 3), alpha=alpha, weights=None,
                                           classes=CLASSES, classifier_activation=None)
    set_batchnorm_statistics(model, seed=1000 + seed)
    return model


def convert(model: keras.Model, seed: int) -> bytes:
    """Full-integer int8 conversion with a seeded random representative dataset."""
    data = images(REPRESENTATIVE_IMAGES, seed)

    def representative():
        for i in range(len(data)):
            yield [data[i:i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    files = {}
    for seed, alpha in enumerate(ALPHAS):
        name = f"mobilenetv2_{alpha:g}_96"
        data = convert(make_model(alpha, seed), seed=2000 + seed)
        (args.out / f"{name}.tflite").write_bytes(data)
        files[name] = {"file": f"{name}.tflite", "alpha": alpha, "seed": seed, "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()}
        print(f"{name}: {len(data):,} B -> {args.out / (name + '.tflite')}", flush=True)
    manifest = {"generated_by": "tools/keras_tflite.py", "tensorflow": tf.__version__, "keras": keras.__version__,
                "resolution": RESOLUTION, "classes": CLASSES, "files": files}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
