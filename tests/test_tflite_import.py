"""Full-integer .tflite import, bit-exact with TensorFlow Lite Micro.

The oracle is the ``tflite-micro`` package (TFLite Micro's reference kernels
behind a Python interpreter).  Every committed model under tests/data/tflite/
(written by tests/data/make_tflite.py) is imported and its int8 reference
output must equal TFLM's byte for byte on seeded random int8 inputs; one is
built for the host and verified (generated C == reference); damaged, foreign,
float and unsupported files are one ``mbmicro: error:`` line with exit 2.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tflite_micro.python.tflite_micro import runtime

from mbmicro.cli import main
from mbmicro.errors import UserError
from mbmicro.formats.tflite_import import import_tflite_bytes, import_tflite_file
from mbmicro.reference.int8 import run_int8

DATA = Path(__file__).parent / "data"
MODELS = sorted((DATA / "tflite").glob("*.tflite"))
sys.path.insert(0, str(DATA))
import make_tflite  # noqa: E402


def _tflm_output(data: bytes, graph, x: np.ndarray) -> np.ndarray:
    """TFLM's output for int8 input x, as int8 (float edges quantized/dequantized exactly)."""
    it = runtime.Interpreter.from_bytes(data)
    feed = x
    if graph.meta["float_input"]:
        t = graph.input
        feed = ((x.astype(np.float32) - t.zero_point) * np.float32(t.scale)).astype(np.float32)
    it.set_input(feed.reshape(it.get_input_details(0)["shape"]), 0)
    it.invoke()
    return it.get_output(0)


def _ours(graph, x: np.ndarray) -> np.ndarray:
    y = run_int8(graph, x)
    if graph.meta["float_output"]:
        t = graph.output
        return ((y.astype(np.float32) - t.zero_point) * np.float32(t.scale)).astype(np.float32)
    return y


def test_the_committed_models_are_exactly_what_the_script_writes(tmp_path):
    make_tflite.main(tmp_path)
    written = sorted(p.name for p in tmp_path.glob("*.tflite"))
    assert written == [p.name for p in MODELS] and len(written) >= 7
    for path in MODELS:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
        assert b"tests/data/make_tflite.py" in path.read_bytes()


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_reference_is_bit_exact_with_tflite_micro(path):
    data = path.read_bytes()
    graph = import_tflite_file(path)
    assert graph.meta["requant"] == "tflite" and graph.meta["source"]["file"] == path.name
    rng = np.random.default_rng(len(data))
    for _ in range(6):
        x = rng.integers(-128, 128, graph.input.shape).astype(np.int8)
        want = _tflm_output(data, graph, x)
        got = _ours(graph, x)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), path.name


def test_scales_are_kept_exactly_and_pad_is_folded():
    graph = import_tflite_file(DATA / "tflite" / "pad_depthwise.tflite")
    assert [n.op for n in graph.nodes] == ["depthwise", "conv2d"]
    assert graph.nodes[0].attrs["pad"] == (1, 1, 1, 1)
    assert graph.input.scale == float(np.float32(0.05)) and graph.input.zero_point == 5
    net = import_tflite_file(DATA / "tflite" / "mbconv_net.tflite")
    assert [n.op for n in net.nodes] == ["conv2d", "conv2d", "depthwise", "conv2d", "add", "lut", "depthwise",
                                         "conv2d", "global_avg_pool", "fully_connected"]
    assert net.output.shape == (1, 1, 1, 10)


@pytest.mark.parametrize("name", ["mbconv_net", "se_concat", "avgpool"])
def test_host_build_is_bit_exact(name, tmp_path, capsys):
    out = tmp_path / "net"
    model = str(DATA / "tflite" / f"{name}.tflite")
    assert main(["build", "--model", model, "--target", "host", "-o", str(out)]) == 0
    assert main(["verify", str(out), "--count", "2"]) == 0
    text = capsys.readouterr()
    assert "warning" not in text.err


def _softmax_model() -> bytes:
    """A SOFTMAX imports (tests/test_softmax.py), but only at TFLite's int8 output qparams 1/256, -128."""
    m = make_tflite.ModelWriter("softmax", 0)
    x = m.act("input", (1, 4, 4, 3), 0.02, 0)
    y, _ = m.conv(x, 0.02, (1, 4, 4, 3), 5, 1, 1, make_tflite.Padding.SAME, make_tflite.Act.NONE, 0.1, 0, "c")
    p = m.act("prob", (1, 4, 4, 5), 1 / 128, 0)
    m.op(make_tflite.Op.SOFTMAX, [y], [p])
    m.inputs, m.outputs = [x], [p]
    return m.finish()


def _float_model() -> bytes:
    m = make_tflite.ModelWriter("float", 0)
    x = m.tensor("input", (1, 4, 4, 3), make_tflite.TensorType.FLOAT32)
    w = m.tensor("w", (2, 1, 1, 3), make_tflite.TensorType.FLOAT32, data=np.ones((2, 1, 1, 3)))
    y = m.tensor("y", (1, 4, 4, 2), make_tflite.TensorType.FLOAT32)
    m.op(make_tflite.Op.CONV_2D, [x, w, -1], [y], ("conv", make_tflite.Padding.SAME, 1, make_tflite.Act.NONE))
    m.inputs, m.outputs = [x], [y]
    return m.finish()


def _bad_files():
    good = (DATA / "tflite" / "conv_same.tflite").read_bytes()
    return {
        "truncated": (good[: len(good) // 2], "truncated"),
        "not_tflite": (b"\x08\x01\x12\x04onnx and more bytes than eight", "not a TFLite model"),
        "float": (_float_model(), "float"),
        "softmax": (_softmax_model(), "SOFTMAX output 'prob' has qparams"),
    }


@pytest.mark.parametrize("kind", ["truncated", "not_tflite", "float", "softmax"])
def test_bad_files_are_one_user_error(kind):
    data, words = _bad_files()[kind]
    with pytest.raises(UserError) as e:
        import_tflite_bytes(data, kind, f"{kind}.tflite")
    assert words in str(e.value) and "\n" not in str(e.value)


def test_bad_files_exit_2_with_one_line_and_nothing_written(tmp_path):
    for kind, (data, words) in _bad_files().items():
        path = tmp_path / f"{kind}.tflite"
        path.write_bytes(data)
        out = tmp_path / f"out_{kind}"
        done = subprocess.run([sys.executable, "-m", "mbmicro", "build", "--model", str(path), "--target", "host",
                               "-o", str(out)], capture_output=True, text=True)
        assert done.returncode == 2, (kind, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mbmicro: error: ") and words in lines[0], (kind, lines)
        assert not out.exists()


def test_calibration_with_a_tflite_is_refused(tmp_path):
    from mbmicro.pipeline import make_model

    with pytest.raises(UserError, match="already quantized"):
        make_model(str(DATA / "tflite" / "conv_same.tflite"), calibration=str(tmp_path / "x.npy"))


@pytest.mark.parametrize("command", [["show"], ["reference"], ["export-onnx", "-o", "x.onnx"],
                                     ["export-onnx", "--int8", "-o", "x.onnx"]])
def test_commands_that_need_a_float_graph_refuse_a_tflite(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    model = str(DATA / "tflite" / "conv_same.tflite")
    assert main([command[0], model, *command[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mbmicro: error: ") and ".tflite" in err[0]
    assert not (tmp_path / "x.onnx").exists()


def test_evaluate_skips_the_float_model_of_a_tflite_build():
    import hashlib

    from mbmicro.commands.evaluate import float_model

    path = DATA / "tflite" / "conv_same.tflite"
    source = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "path": str(path)}
    graph, why = float_model({"model": "conv_same", "source": source})
    assert graph is None and ".tflite" in why
