"""Imported models on an ARM core in QEMU: a .tflite bit-exact with TFLite Micro, a timm ONNX
bit-exact with the int8 reference.

Why here and sampled: benchmarks/imports.py runs every timm family and the Keras
MobileNetV2s on cortex-a53 and cortex-m55 (minutes each, and it needs model files made with
torch / TensorFlow); CI gets one small model of each kind on the smallest board
(cortex-m4) so that the import -> codegen -> Cortex-M path is checked on every change, in
well under a minute.  The .tflite is a committed test model (tests/data/make_tflite.py);
the ONNX file is timm's ``test_efficientnet`` exported by ``torch.onnx.export``
(tools/timm_export.py --ci), committed because torch is no test dependency.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from mbmicro.cli import main
from mbmicro.formats.onnx_oracle import session
from mbmicro.pipeline import dequantize_output, quantize_input
from mbmicro.sim.build_folder import load_build_folder
from mbmicro.sim.execute import run_build
from tflm_oracle import tflm_output

DATA = Path(__file__).parent / "data"
TFLITE = DATA / "tflite" / "mbconv_net.tflite"
ONNX = DATA / "onnx" / "timm_test_efficientnet_64px.onnx"
CORE = "cortex-m4"
#: int8 logits of a random-init net vs its float logits: a broken importer or quantizer gives ~0
MIN_COSINE = 0.95


def _build(model: Path, folder: Path, extra: list[str]):
    assert main(["build", "--model", str(model), "--target", CORE, "-o", str(folder), *extra]) == 0
    return load_build_folder(folder, need_graph=True)


def test_tflite_on_cortex_m4_equals_tflite_micro_byte_for_byte(tmp_path):
    """The C in QEMU and TFLite Micro's interpreter, same file, same int8 inputs: the same bytes."""
    data = TFLITE.read_bytes()
    folder = _build(TFLITE, tmp_path / "tfl", [])
    assert folder.graph.meta["requant"] == "tflite"
    rng = np.random.default_rng(8)
    for _ in range(2):
        x = rng.integers(-128, 128, folder.graph.input.shape).astype(np.int8)
        y, _ = run_build(folder, x)
        want = tflm_output(data, x)
        assert y.dtype == want.dtype == np.int8 and y.tobytes() == want.tobytes()


def test_timm_onnx_on_cortex_m4_is_bit_exact_and_close_to_onnxruntime(tmp_path, capsys):
    """A torch.onnx.export of a timm model: imported, calibrated, built, verified bit-exact in QEMU,
    and the C's int8 logits point where onnxruntime's float logits of the same file do."""
    model = onnx.load(str(ONNX))
    assert model.producer_name == "pytorch" and model.opset_import[0].version == 17
    cal = tmp_path / "calibration.npy"
    np.save(cal, np.random.default_rng(0).uniform(-1, 1, (4, 64, 64, 3)).astype(np.float32))
    folder = _build(ONNX, tmp_path / "onnx", ["--calibration", str(cal)])
    ops = {n.op for n in folder.graph.nodes}
    assert {"conv2d", "depthwise", "mul", "lut", "global_avg_pool", "fully_connected"} <= ops  # SE, SiLU
    assert main(["verify", str(tmp_path / "onnx"), "--count", "2"]) == 0
    assert "warning" not in capsys.readouterr().err
    build = json.loads((tmp_path / "onnx" / "build.json").read_text())
    assert build["source"]["file"] == ONNX.name
    x = np.random.default_rng(5).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    y, _ = run_build(folder, quantize_input(folder.graph, x))
    got = dequantize_output(folder.graph, y).ravel().astype(np.float64)
    want = session(model).run(None, {"input": x.transpose(0, 3, 1, 2)})[0].ravel().astype(np.float64)
    assert got @ want / (np.linalg.norm(got) * np.linalg.norm(want)) >= MIN_COSINE


@pytest.mark.parametrize("path", [TFLITE, ONNX], ids=["tflite", "onnx"])
def test_the_committed_import_models_are_small(path):
    """Committed model files stay small (the benchmark's are not committed: 150 MB)."""
    assert path.stat().st_size < 1 << 20
