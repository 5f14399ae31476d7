"""Image files as inputs: reading, preprocessing (against a NumPy twin), calibration folders,
``run --image``, the saturation warning, ``evaluate`` and every refusal (one line, exit 2).

Images are made here with Pillow from seeded random pixels. The host build is a built-in
model at width 0.35, resolution 32, 10 classes, calibrated on a folder of such images.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mbmicro.cli import main
from mbmicro.commands import evaluate
from mbmicro.graph import images
from mbmicro.graph.images import CalibrationFolder, Preprocess
from mbmicro.graph.serialize import load_graph, save_graph
from mbmicro.pipeline import make_model
from mbmicro.reference.arith import dequantize, quantize
from mbmicro.reference.int8 import run_int8
from test_json_output import validate

SMALL = ["--model", "mobilenetv2", "--width", "0.35", "--resolution", "32", "--classes", "10"]
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def _pixels(seed: int, h: int, w: int, channels: int = 3) -> np.ndarray:
    shape = (h, w) if channels == 1 else (h, w, channels)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _save(path: Path, pixels: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(pixels) if mode is None else Image.fromarray(pixels, mode)
    img.save(path, quality=95) if path.suffix == ".jpg" else img.save(path)
    return path


def _one_line(err: str, start: str = "mbmicro: error: ") -> str:
    assert err.startswith(start) and err.count("\n") == 1, err
    return err


# ------------------------------------------------------------------ the NumPy twin

def _twin_weights(in_len: int, out_len: int) -> np.ndarray:
    """(out_len, in_len) bilinear resampling matrix as Pillow computes it (antialiased when
    shrinking: the triangle filter widened by the scale)."""
    scale = in_len / out_len
    fscale = max(scale, 1.0)
    m = np.zeros((out_len, in_len))
    for i in range(out_len):
        center = (i + 0.5) * scale
        lo = max(int(center - fscale + 0.5), 0)
        hi = min(int(center + fscale + 0.5), in_len)
        x = np.arange(lo, hi)
        k = np.maximum(0.0, 1.0 - np.abs((x - center + 0.5) / fscale))
        m[i, lo:hi] = k / k.sum()
    return m


def _twin(pixels: np.ndarray, resize: int, crop: int, mode: str) -> np.ndarray:
    """Resize the shorter side, center crop, scale: written from torchvision's definitions."""
    rgb = np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels[..., :3]
    h, w = rgb.shape[:2]
    oh, ow = (int(resize * h / w), resize) if w <= h else (resize, int(resize * w / h))
    x = rgb.astype(np.float64)
    x = np.einsum("oh,hwc->owc", _twin_weights(h, oh), x)
    x = np.einsum("pw,owc->opc", _twin_weights(w, ow), x)
    top, left = int(round((oh - crop) / 2)), int(round((ow - crop) / 2))
    x = x[top:top + crop, left:left + crop]
    if mode == "tf":
        return x / 127.5 - 1
    if mode == "unit":
        return x / 255
    return (x / 255 - IMAGENET_MEAN) / IMAGENET_STD


STEP = {"tf": 1 / 127.5, "unit": 1 / 255, "imagenet": 1 / 255 / 0.224}


@pytest.mark.parametrize("mode", ["tf", "imagenet", "unit"])
@pytest.mark.parametrize("size", [(50, 40), (32, 64), (37, 37), (100, 81)])
def test_preprocessing_matches_numpy_twin(tmp_path, mode, size):
    h, w = size
    pixels = _pixels(h * w, h, w)
    path = _save(tmp_path / "a.png", pixels)
    got = images.load_image(path, Preprocess(mode, 37), (32, 32))
    want = _twin(pixels, 37, 32, mode)
    assert got.dtype == np.float32 and got.shape == (32, 32, 3)
    # Pillow resamples in fixed point with a uint8 rounding between its two passes: <= 2 levels
    assert np.abs(got - want).max() <= 2.01 * STEP[mode]


def test_crop_offsets_and_scaling_exact_without_resize(tmp_path):
    """Shorter side already the resize: no resampling, so the crop window and the scaling are exact."""
    pixels = _pixels(1, 50, 37)
    path = _save(tmp_path / "a.png", pixels)
    got = images.load_image(path, Preprocess("tf", 37), (32, 32))
    window = pixels[9:41, 2:34].astype(np.float32)  # top round(18/2)=9, left round(5/2)=2
    np.testing.assert_array_equal(got, window / np.float32(127.5) - np.float32(1))
    got = images.load_image(path, Preprocess("imagenet", 37), (32, 32))
    np.testing.assert_allclose(got, (window / 255 - IMAGENET_MEAN) / IMAGENET_STD, atol=1e-5)


@pytest.mark.parametrize("mode,channels,suffix", [("RGB", 3, ".png"), ("L", 1, ".png"), ("RGBA", 4, ".png"),
                                                  ("RGB", 3, ".jpg"), ("L", 1, ".jpg"), ("RGB", 3, ".bmp"),
                                                  ("RGB", 3, ".webp")])
def test_modes_and_formats_become_rgb(tmp_path, mode, channels, suffix):
    pixels = _pixels(7, 37, 45, channels)
    path = _save(tmp_path / f"a{suffix}", pixels, mode)
    got = images.resize_and_crop(images.read_image(path), 37, (37, 37))
    assert got.shape == (37, 37, 3) and got.dtype == np.uint8
    if mode == "L":
        assert (got[..., 0] == got[..., 1]).all() and (got[..., 1] == got[..., 2]).all()
    if suffix in (".png", ".bmp"):  # lossless: the center crop is the pixels themselves, alpha dropped
        rgb = np.repeat(pixels[..., None], 3, axis=2) if channels == 1 else pixels[..., :3]
        np.testing.assert_array_equal(got, rgb[:, 4:41])


def test_default_resize_is_torchvisions_ratio():
    assert images.default_resize(224) == 256
    assert Preprocess().resolved((32, 32)).resize == 37
    assert Preprocess("tf", None).record((224, 224))["resize"] == 256


# ------------------------------------------------------------------ calibration folders

def _calibration_folder(root: Path, count: int = 4, size: int = 32) -> list[np.ndarray]:
    """``count`` images of size x size in root and a subfolder (sorted order: a/0..., b/sub/...),
    plus a text file that is skipped; returns the pixels in sorted path order."""
    out = []
    for i in range(count):
        pixels = _pixels(100 + i, size, size)
        where = root / "a" / f"{i}.png" if i % 2 == 0 else root / "b" / "sub" / f"{i}.png"
        _save(where, pixels)
    (root / "notes.txt").write_text("not an image")
    for i in (0, 2, 1, 3)[:count]:
        out.append(_pixels(100 + i, size, size))
    return out


def _graph_files(graph, folder: Path) -> tuple[dict, bytes]:
    folder.mkdir()
    save_graph(graph, folder)
    meta = json.loads((folder / "graph.json").read_text())
    meta.get("meta", {}).pop("calibration", None)
    return meta, (folder / "graph.npz").read_bytes()


def test_calibration_folder_equals_same_images_as_npy(tmp_path, capsys):
    pixels = _calibration_folder(tmp_path / "cal")
    np.save(tmp_path / "cal.npy", np.stack(pixels))
    _, from_folder = make_model("mobilenetv2", 0.35, 32, 10, calibration=CalibrationFolder(
        str(tmp_path / "cal"), Preprocess("tf", 32)))
    err = capsys.readouterr().err
    _one_line(err, "mbmicro: warning: ")
    assert "notes.txt" in err
    _, from_npy = make_model("mobilenetv2", 0.35, 32, 10, calibration=str(tmp_path / "cal.npy"))
    _, from_random = make_model("mobilenetv2", 0.35, 32, 10)
    assert from_folder.meta["num_calibration"] == 4
    same = _graph_files(from_folder, tmp_path / "g1")
    assert same == _graph_files(from_npy, tmp_path / "g2")
    assert same != _graph_files(from_random, tmp_path / "g3")


def test_calibration_folder_limit_takes_first_sorted(tmp_path, capsys):
    pixels = _calibration_folder(tmp_path / "cal")
    got = images.load_image_folder(tmp_path / "cal", Preprocess("unit", 32), (32, 32), limit=2)
    np.testing.assert_array_equal(got, np.stack(pixels[:2]).astype(np.float32) / np.float32(255))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "using the first 2 in sorted path order" in err[1], err


# ------------------------------------------------------------------ a host build

@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    """A host build of the small model, calibrated on a folder of 32x32 random images."""
    root = tmp_path_factory.mktemp("small")
    _calibration_folder(root / "cal")
    out = root / "build"
    assert main(["build", *SMALL, "--target", "host", "-o", str(out), "--calibration", str(root / "cal")]) == 0
    return out


def test_build_records_preprocessing(small_build):
    build = json.loads((small_build / "build.json").read_text())
    assert build["preprocess"] == {"mode": "tf", "resize": 37, "crop": [32, 32],
                                   "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    assert build["options"]["calibration"].endswith("cal")
    report = (small_build / "report.md").read_text()
    assert "Preprocessing (image files): tf: RGB, shorter side resized to 37 (bilinear), center crop 32x32" in report


def test_run_image_prints_top5_of_the_reference(small_build, tmp_path, capsys):
    path = _save(tmp_path / "photo.jpg", _pixels(5, 60, 48))
    capsys.readouterr()
    assert main(["run", str(small_build), "--image", str(path)]) == 0
    out, err = capsys.readouterr()
    graph = load_graph(small_build)
    x = quantize(images.load_image(path, Preprocess("tf", 37), (32, 32))[None],
                 graph.input.scale, graph.input.zero_point)
    scores = dequantize(run_int8(graph, x), graph.output.scale, graph.output.zero_point).reshape(-1)
    lines = out.splitlines()
    assert lines[0].startswith("top-5 of") and lines[1].split() == ["class", "score"] and len(lines) == 7, out
    shown = [(int(c), float(v)) for c, v in (line.split() for line in lines[2:])]
    order = np.argsort(-scores, kind="stable")[:5]
    assert [c for c, _ in shown] == [int(i) for i in order]
    np.testing.assert_allclose([s for _, s in shown], scores[order], atol=1e-4)
    assert err == ""


def test_run_image_with_output_saves_int8(small_build, tmp_path, capsys):
    path = _save(tmp_path / "photo.png", _pixels(6, 32, 32))
    assert main(["run", str(small_build), "--image", str(path), "--output", str(tmp_path / "y.npy")]) == 0
    assert np.load(tmp_path / "y.npy").dtype == np.int8
    assert "top-5 of" in capsys.readouterr().out


def test_saturation_warning(small_build, tmp_path, capsys):
    np.save(tmp_path / "pixels.npy", np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32))
    np.save(tmp_path / "ok.npy", np.random.default_rng(0).uniform(-0.5, 0.5, (1, 32, 32, 3)).astype(np.float32))
    capsys.readouterr()
    assert main(["run", str(small_build), "--input", str(tmp_path / "pixels.npy"), "--output",
                 str(tmp_path / "y.npy")]) == 0
    err = _one_line(capsys.readouterr().err, "mbmicro: warning: ")
    assert "outside the calibrated input range" in err and "saturate" in err
    assert main(["run", str(small_build), "--input", str(tmp_path / "ok.npy"), "--output",
                 str(tmp_path / "y.npy")]) == 0
    assert capsys.readouterr().err == ""


def test_saturated_fraction_counts_beyond_half_a_step():
    from mbmicro.commands.run import saturated_fraction

    # scale 1, zero point 0: representable [-128, 127]; 127.4 rounds to 127, 127.6 saturates
    assert saturated_fraction(np.array([127.4, -128.4, 0.0, 5.0]), 1.0, 0) == 0.0
    assert saturated_fraction(np.array([127.6, -129.0, 0.0, 5.0]), 1.0, 0) == 0.5


# ------------------------------------------------------------------ evaluate

def _image_folder(root: Path) -> Path:
    for c, name in enumerate(["cat", "dog"]):
        for i, (h, w) in enumerate([(40, 50), (32, 64), (37, 37)]):
            _save(root / name / f"{i}.{'jpg' if i % 2 else 'png'}", _pixels(10 * c + i, h, w))
    return root


def _expected(build: Path, root: Path):
    graph = load_graph(build)
    labels, tops = [], []
    for label, name in enumerate(["cat", "dog"]):
        for path in sorted((root / name).iterdir()):
            x = quantize(images.load_image(path, Preprocess("tf", 37), (32, 32))[None],
                         graph.input.scale, graph.input.zero_point)
            labels.append(label)
            tops.append(int(np.argmax(run_int8(graph, x))))
    return labels, tops


def test_evaluate_json(small_build, tmp_path, capsys):
    root = _image_folder(tmp_path / "val")
    capsys.readouterr()
    assert main(["evaluate", str(small_build), "--images", str(root), "--json"]) == 0
    out, err = capsys.readouterr()
    r = json.loads(out)
    validate("evaluate", r)
    labels, tops = _expected(small_build, root)
    assert r["images"] == 6 and r["classes"] == ["cat", "dog"]
    assert r["correct"]["int8"] == sum(t == lab for t, lab in zip(tops, labels))
    assert r["correct"]["c"] == r["correct"]["int8"] and r["c_reference_bit_exact"] == 6
    assert r["top1"]["int8"] == pytest.approx(r["correct"]["int8"] / 6)
    assert r["float_model"].startswith("rebuilt mobilenetv2") and r["float_model_missing"] is None
    assert 0 <= r["int8_float_top1_agree"] <= 6 and r["top1"]["float"] is not None
    assert err == ""  # not a terminal: no progress bar


def test_evaluate_limit_round_robin_and_text(small_build, tmp_path, capsys):
    root = _image_folder(tmp_path / "val")
    classes = [(n, sorted((root / n).iterdir())) for n in ("cat", "dog")]
    assert [label for _, label in evaluate.select(classes, 3)] == [0, 1, 0]
    capsys.readouterr()
    assert main(["evaluate", str(small_build), "--images", str(root), "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("evaluated 3 images of 2 classes") and "C vs int8 reference bit-exact: 3/3" in out
    rows = {line.rsplit(None, 2)[0]: line.split()[-2:] for line in out.splitlines()[2:5]}
    assert list(rows) == ["float", "int8 reference", "C on target"], out
    assert rows["C on target"] == rows["int8 reference"] and rows["C on target"][1].endswith("/3"), out


def test_evaluate_progress_bar_only_on_a_terminal(small_build, tmp_path, capsys, monkeypatch):
    root = _image_folder(tmp_path / "val")
    capsys.readouterr()
    assert main(["evaluate", str(small_build), "--images", str(root), "--limit", "2"]) == 0
    assert capsys.readouterr().err == ""
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["evaluate", str(small_build), "--images", str(root), "--limit", "2"]) == 0
    assert "img" in capsys.readouterr().err


def test_evaluate_without_the_model_file(small_build, tmp_path, capsys):
    """An imported model whose file is gone or changed: int8 and C only, said in one warning."""
    copy = tmp_path / "build"
    shutil.copytree(small_build, copy)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"first version")
    build = json.loads((copy / "build.json").read_text())
    build["source"] = {"file": "m.onnx", "sha256": evaluate.sha256_of(model), "path": str(model)}
    (copy / "build.json").write_text(json.dumps(build))
    model.write_bytes(b"second version")
    assert evaluate.float_model(build)[1].endswith("has changed since the build (SHA-256 differs)")
    model.unlink()
    assert evaluate.float_model(build) == (None, f"model file {model} is gone")
    root = _image_folder(tmp_path / "val")
    capsys.readouterr()
    assert main(["evaluate", str(copy), "--images", str(root), "--limit", "2", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "is gone: evaluating the int8 reference and the C only" in _one_line(err, "mbmicro: warning: ")
    r = json.loads(out)
    assert r["top1"]["float"] is None and r["int8_float_top1_agree"] is None and r["c_reference_bit_exact"] == 2


# ------------------------------------------------------------------ refusals: one line, exit 2

def _refused(capsys, argv) -> str:
    """Run the CLI; it must exit 2 (returned, or argparse's SystemExit) with one error line."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    return _one_line(capsys.readouterr().err)


def test_run_image_refusals(small_build, tmp_path, capsys):
    (tmp_path / "bad.jpg").write_bytes(b"this is not a JPEG")
    err = _refused(capsys, ["run", str(small_build), "--image", str(tmp_path / "bad.jpg")])
    assert "is not a readable image" in err
    buf = io.BytesIO()
    Image.fromarray(_pixels(3, 64, 64)).save(buf, format="JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[:600])
    assert "is not a readable image" in _refused(capsys, ["run", str(small_build), "--image",
                                                          str(tmp_path / "cut.jpg")])
    assert "does not exist" in _refused(capsys, ["run", str(small_build), "--image", str(tmp_path / "no.png")])
    assert "is a folder" in _refused(capsys, ["run", str(small_build), "--image", str(tmp_path)])
    assert "--output OUT.npy is required with --input" in _refused(
        capsys, ["run", str(small_build), "--input", str(tmp_path / "x.npy")])
    assert not (tmp_path / "y.npy").exists()


def test_run_image_on_a_build_without_preprocessing(small_build, tmp_path, capsys):
    copy = tmp_path / "build"
    shutil.copytree(small_build, copy)
    build = json.loads((copy / "build.json").read_text())
    del build["preprocess"]
    (copy / "build.json").write_text(json.dumps(build))
    path = _save(tmp_path / "a.png", _pixels(1, 32, 32))
    assert "has no valid \"preprocess\" entry" in _refused(capsys, ["run", str(copy), "--image", str(path)])


def test_build_refusals_leave_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    (tmp_path / "empty").mkdir()
    err = _refused(capsys, ["build", *SMALL, "-o", str(out), "--calibration", str(tmp_path / "empty")])
    assert "holds no images" in err
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("x")
    err = _refused(capsys, ["build", *SMALL, "-o", str(out), "--calibration", str(tmp_path / "texts")])
    assert "holds no images" in err
    err = _refused(capsys, ["build", *SMALL, "-o", str(out), "--resize", "20"])
    assert "--resize 20 is smaller than the model's input 32x32" in err
    err = _refused(capsys, ["build", *SMALL, "-o", str(out), "--preprocess", "caffe"])
    assert "caffe" in err
    assert not out.exists()


def test_corrupt_image_in_calibration_folder_is_refused(tmp_path, capsys):
    _calibration_folder(tmp_path / "cal")
    (tmp_path / "cal" / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["build", *SMALL, "-o", str(out), "--calibration", str(tmp_path / "cal")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("mbmicro: error: image ") and "broken.png is not a readable image" in err[-1]
    assert all(line.startswith("mbmicro: ") for line in err) and len(err) == 2  # the skip warning, the error
    assert not out.exists()


def test_evaluate_refusals(small_build, tmp_path, capsys):
    flat = tmp_path / "flat"
    _save(flat / "a.png", _pixels(1, 32, 32))
    assert "has no class subfolders" in _refused(capsys, ["evaluate", str(small_build), "--images", str(flat)])
    (flat / "empty_class").mkdir()
    assert "holds no images" in _refused(capsys, ["evaluate", str(small_build), "--images", str(flat)])
    assert "does not exist" in _refused(capsys, ["evaluate", str(small_build), "--images", str(tmp_path / "no")])
    many = tmp_path / "many"
    for c in range(11):
        _save(many / f"c{c:02d}" / "a.png", _pixels(c, 32, 32))
    assert "has 11 class subfolders but the model has 10 outputs" in _refused(
        capsys, ["evaluate", str(small_build), "--images", str(many)])
    root = tmp_path / "val"
    _save(root / "cat" / "a.png", _pixels(1, 32, 32))
    (root / "cat" / "b.jpg").write_bytes(b"garbage")
    assert "b.jpg is not a readable image" in _refused(capsys, ["evaluate", str(small_build), "--images", str(root)])
    assert "--limit 0 is invalid" in _refused(capsys, ["evaluate", str(small_build), "--images", str(root),
                                                       "--limit", "0"])


def test_reference_image_uses_preprocess(tmp_path, capsys):
    """reference --image with a calibration folder: its int8 top-1 is the int8 graph's on the
    preprocessed image (imagenet scaling here, not the default)."""
    _calibration_folder(tmp_path / "cal")
    path = _save(tmp_path / "photo.png", _pixels(9, 45, 60))
    capsys.readouterr()
    assert main(["reference", *SMALL[1:], "--image", str(path), "--calibration", str(tmp_path / "cal"),
                 "--preprocess", "imagenet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    _, graph = make_model("mobilenetv2", 0.35, 32, 10, calibration=CalibrationFolder(
        str(tmp_path / "cal"), Preprocess("imagenet")))
    x = quantize(images.load_image(path, Preprocess("imagenet"), (32, 32))[None],
                 graph.input.scale, graph.input.zero_point)
    assert f"input: {path}" in lines[0]
    assert int(lines[2].split()[1]) == int(np.argmax(run_int8(graph, x)))


def test_export_onnx_int8_calibration_folder(tmp_path, capsys):
    """export-onnx --int8 --calibration FOLDER --preprocess unit: the QDQ model of the int8 graph
    calibrated on that folder with that scaling (and not the default tf one)."""
    from mbmicro.formats.onnx_qdq import export_qdq

    _calibration_folder(tmp_path / "cal")
    out = tmp_path / "m.onnx"
    assert main(["export-onnx", *SMALL[1:], "--int8", "-o", str(out), "--calibration", str(tmp_path / "cal"),
                 "--preprocess", "unit"]) == 0
    graphs = {mode: make_model("mobilenetv2", 0.35, 32, 10, calibration=CalibrationFolder(
        str(tmp_path / "cal"), Preprocess(mode)))[1] for mode in ("unit", "tf")}
    assert out.read_bytes() == export_qdq(graphs["unit"]).SerializeToString()
    assert out.read_bytes() != export_qdq(graphs["tf"]).SerializeToString()
