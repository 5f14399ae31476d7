"""Imported models on the ARM cores: timm float ONNX and Keras int8 .tflite; writes results/imports.{json,md}.

Why: issue 8 promises that a model a user brings -- a timm model exported by
``torch.onnx.export``, or a Keras model converted to a full-integer .tflite --
gets the same guarantees as a built-in one.  This measures it on the real
files, built with ``mbmicro build`` for cortex-a53 and cortex-m55:

* ONNX (tools/timm_export.py: every Table A family as timm builds it, width
  1.0, 96 px, 10 classes, random init): imported, quantized on seeded uniform
  [-1, 1] calibration images, built, run in QEMU on IMAGES seeded uniform
  [-1, 1] images.  Reported: whether the C output equals the int8 reference
  byte for byte on every image (bit-exact), the cosine of the dequantized
  int8 logits (from the C) and onnxruntime's float logits of the same file
  (graph optimizations off), and how far the imported float graph is from
  onnxruntime (largest |difference| of the logits: the importer's own error).
  For scale, the cosine of onnxruntime's own int8 quantization of the file
  (``quantize_static``, QDQ, per-channel, same calibration images): random-init
  networks at width 1.0 amplify quantization noise layer after layer, so the
  cosines are far below a trained model's, for onnxruntime as for mbmicro.
* TFLite (tools/keras_tflite.py: Keras MobileNetV2, alpha 0.35 and 1.0, 96 px,
  10 classes, full-integer quantized): built, run in QEMU on IMAGES seeded
  random int8 inputs, and the C output compared byte for byte with TensorFlow
  Lite Micro's (the ``tflite-micro`` Python interpreter) on the same inputs.

The model files are not committed (11 float models are 150 MB) and making them
needs torch or TensorFlow; each file's SHA-256 is in the results, and the
script checks the files it measures against their manifests.  Without the
files, the committed results/imports.json is reused: results/imports.md is
written from it and nothing is measured (so ``run_all.py`` works without torch).

Usage::

    PYTHONPATH=. /tmp/venv-timm/bin/python tools/timm_export.py   # out/timm-onnx/
    /tmp/venv-tf/bin/python tools/keras_tflite.py                  # out/keras-tflite/
    python benchmarks/imports.py [--images 4] [--only onnx|tflite] [--models a,b]

Each finished job is cached in out/bench-imports/ (delete it to re-measure).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mbmicro import progress

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULT_MD = HERE / "results" / "imports.md"
RESULT_JSON = HERE / "results" / "imports.json"
CACHE = ROOT / "out" / "bench-imports"
ONNX_DIR = ROOT / "out" / "timm-onnx"
TFLITE_DIR = ROOT / "out" / "keras-tflite"
CORES = ["cortex-a53", "cortex-m55"]
CALIBRATION_IMAGES, CALIBRATION_SEED = 8, 99


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two logit vectors (float64)."""
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def load_manifest(folder: Path) -> dict | None:
    """The exporter's manifest.json in ``folder``, or None when the files were not made here."""
    path = folder / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def checked_file(folder: Path, entry: dict) -> Path:
    """The model file of a manifest entry, refusing one whose bytes are not the manifest's."""
    path = folder / entry["file"]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    if sha != entry["sha256"]:
        raise SystemExit(f"{path}: SHA-256 {sha} is not the manifest's {entry['sha256']}: re-export it")
    return path


def build(model: Path, core: str, folder: Path, extra: list[str]) -> dict:
    """``mbmicro build`` (the user's code path); returns what report.json says about the build."""
    from mbmicro.cli import main as cli_main

    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = cli_main(["build", "--model", str(model), "--target", core, "-o", str(folder), "--force", *extra])
    if code >= 128:  # interrupted (130, 143): stop the whole run, cache nothing
        raise SystemExit(code)
    if code != 0:
        return {"error": err.getvalue().strip()}
    rep = json.loads((folder / "report.json").read_text())
    return {"build_time_s": round(time.perf_counter() - started, 1), "arena_bytes": rep["arena_bytes"],
            "weights_bytes": rep["weights_bytes"], "code_bytes": rep["code_bytes"],
            "sram_needed_bytes": rep["memory"]["sram_needed_bytes"],
            "flash_needed_bytes": rep["memory"]["flash_needed_bytes"]}


def onnx_float_logits(path: Path, images: list[np.ndarray]) -> list[np.ndarray]:
    """onnxruntime's float logits of the file (graph optimizations off) on NHWC images."""
    import onnx

    from mbmicro.formats.onnx_oracle import session

    sess = session(onnx.load(str(path)))
    name = sess.get_inputs()[0].name
    return [sess.run(None, {name: x.transpose(0, 3, 1, 2)})[0] for x in images]


def onnxruntime_int8_logits(path: Path, calibration: np.ndarray, images: list[np.ndarray]) -> list[np.ndarray]:
    """The logits of onnxruntime's own int8 quantization of the file (``quantize_static``: QDQ,
    per-channel int8 weights, int8 activations, MinMax on the same calibration images), for scale:
    a random-init network amplifies quantization noise whoever quantizes it."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from mbmicro.formats.onnx_oracle import session

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{"input": x[None].transpose(0, 3, 1, 2)} for x in calibration])

        def get_next(self):
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory(prefix="bench-imports-ort-") as tmp:
        out = Path(tmp) / "q.onnx"
        quantize_static(str(path), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
        sess = session(onnx.load(str(out)))
    return [sess.run(None, {"input": x.transpose(0, 3, 1, 2)})[0] for x in images]


def onnx_job(family: str, path: Path, core: str, count: int) -> dict:
    """One timm ONNX file on one core: import error, bit-exactness in QEMU, int8-vs-float cosine."""
    from mbmicro.formats.onnx_qdq_import import import_file
    from mbmicro.pipeline import dequantize_output, quantize_input
    from mbmicro.reference.float32 import run_float
    from mbmicro.reference.int8 import run_int8
    from mbmicro.sim.build_folder import load_build_folder
    from mbmicro.sim.execute import run_build

    images = [np.random.default_rng(seed).uniform(-1, 1, (1, 96, 96, 3)).astype(np.float32)
              for seed in range(1, count + 1)]
    want = onnx_float_logits(path, images)
    float_graph, _ = import_file(path)
    import_err = max(float(np.abs(run_float(float_graph, x).ravel() - w.ravel()).max())
                     for x, w in zip(images, want))
    calibration = np.random.default_rng(CALIBRATION_SEED).uniform(
        -1, 1, (CALIBRATION_IMAGES, 96, 96, 3)).astype(np.float32)
    ort_int8 = onnxruntime_int8_logits(path, calibration, images)
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp:
        cal = Path(tmp) / "calibration.npy"
        np.save(cal, calibration)
        result = build(path, core, Path(tmp) / "b", ["--calibration", str(cal)])
        if "error" in result:
            return result
        folder = load_build_folder(Path(tmp) / "b", need_graph=True)
        graph, exact, cosines = folder.graph, 0, []
        started = time.perf_counter()
        for x, w in zip(images, want):
            xq = quantize_input(graph, x)
            y, _ = run_build(folder, xq)
            exact += int(y.tobytes() == run_int8(graph, xq).tobytes())
            cosines.append(cosine(dequantize_output(graph, y), w))
    return dict(result, nodes=len(graph.nodes), ops=sorted({n.op for n in graph.nodes}), images=count,
                bit_exact=exact, run_time_s=round(time.perf_counter() - started, 1),
                import_max_abs_err=import_err, logit_max_abs=max(float(np.abs(w).max()) for w in want),
                cos_mean=float(np.mean(cosines)), cos_min=float(np.min(cosines)),
                ort_cos_mean=float(np.mean([cosine(q, w) for q, w in zip(ort_int8, want)])))


def tflite_job(name: str, path: Path, core: str, count: int) -> dict:
    """One Keras .tflite on one core: the C output in QEMU vs TensorFlow Lite Micro, byte for byte."""
    from tflite_micro.python.tflite_micro import runtime

    from mbmicro.reference.int8 import run_int8
    from mbmicro.sim.build_folder import load_build_folder
    from mbmicro.sim.execute import run_build

    data = path.read_bytes()
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp:
        result = build(path, core, Path(tmp) / "b", [])
        if "error" in result:
            return result
        folder = load_build_folder(Path(tmp) / "b", need_graph=True)
        graph, rng = folder.graph, np.random.default_rng(len(data))
        same_tflm = same_ref = 0
        started = time.perf_counter()
        for _ in range(count):
            x = rng.integers(-128, 128, graph.input.shape).astype(np.int8)
            y, _ = run_build(folder, x)
            tflm = runtime.Interpreter.from_bytes(data)
            tflm.set_input(x.reshape(tflm.get_input_details(0)["shape"]), 0)
            tflm.invoke()
            same_tflm += int(y.tobytes() == tflm.get_output(0).tobytes())
            same_ref += int(y.tobytes() == run_int8(graph, x).tobytes())
    return dict(result, nodes=len(graph.nodes), ops=sorted({n.op for n in graph.nodes}), inputs=count,
                equal_tflm=same_tflm, equal_reference=same_ref, run_time_s=round(time.perf_counter() - started, 1))


def cached(kind: str, name: str, core: str, sha: str, count: int, job) -> dict:
    """A job's result from out/bench-imports/ when it measured the same file bytes, else run and cache it."""
    path = CACHE / f"{kind}-{name}@{core}.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("sha256") == sha and old.get("count") == count:
            return old
    started = time.perf_counter()
    result = dict(job(), kind=kind, model=name, core=core, sha256=sha, count=count,
                  job_time_s=round(time.perf_counter() - started, 1))
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def measure(kind: str, folder: Path, job, count: int, models: set[str] | None) -> dict | None:
    """Every file of an exporter's manifest on every core; None when the files are not here."""
    manifest = load_manifest(folder)
    if manifest is None:
        return None
    rows = []
    for name, entry in progress.track(manifest["files"].items(), desc=kind, unit="model"):
        if models and name not in models:
            continue
        path = checked_file(folder, entry)
        for core in CORES:
            r = cached(kind, name, core, entry["sha256"], count, lambda: job(name, path, core, count))
            rows.append(r)
            print(f"{kind} {name} @ {core}: {summary(r)} ({r['job_time_s']} s)", flush=True)
    return {"manifest": manifest, "images": count, "rows": rows}


def merge(old: dict | None, new: dict) -> dict:
    """``new``, plus the committed rows of models it did not measure (a --models run updates only those)."""
    if not old or old.get("images") != new["images"]:
        return new
    done = {r["model"] for r in new["rows"]}
    order = list(new["manifest"]["files"])
    kept = [r for r in old["rows"] if r["model"] not in done and r["model"] in order]
    rows = sorted(kept + new["rows"], key=lambda r: (order.index(r["model"]), CORES.index(r["core"])))
    return dict(new, rows=rows)


def summary(r: dict) -> str:
    """One line per job for the console."""
    if "error" in r:
        return f"FAILED: {r['error']}"
    if r["kind"] == "onnx":
        return f"bit-exact {r['bit_exact']}/{r['images']}, cosine {r['cos_mean']:.4f} (min {r['cos_min']:.4f})"
    return f"equal to TFLite Micro {r['equal_tflm']}/{r['inputs']}"


def _kib(n: int) -> str:
    return f"{n / 1024:,.0f}"


def render(results: dict) -> str:
    """results/imports.md from the results (also when reused without the model files)."""
    out = ["## imports\n",
           "Written by `benchmarks/imports.py`: models as users bring them, built with `mbmicro build` for "
           "cortex-a53 (QEMU user mode) and cortex-m55 (QEMU mps3-an547) and run there.\n"]
    onnx_part, tfl_part = results.get("onnx"), results.get("tflite")
    if onnx_part:
        m = onnx_part["manifest"]
        out += [f"\n### timm float ONNX (torch {m['torch']}, timm {m['timm']}, opset {m['opset']})\n",
                f"Every family as timm builds it (`tools/timm_export.py`; FBNet-B and ProxylessNAS-R, which timm "
                f"lacks, are Table A's blocks through timm's EfficientNet builder), width {m['width']:g}, "
                f"{m['resolution']} px, {m['classes']} classes, random init with BatchNorm statistics set on random "
                "images, exported by `torch.onnx.export`. Imported and quantized by mbmicro "
                f"(calibration: {CALIBRATION_IMAGES} seeded uniform [-1, 1] images), then run on "
                f"{onnx_part['images']} other seeded uniform [-1, 1] images. Bit-exact: the C output in QEMU equals "
                "the int8 reference byte for byte. Cosine: the C's dequantized int8 logits vs onnxruntime's float "
                "logits of the same file (graph optimizations off). Import error: largest |difference| between "
                "mbmicro's imported float graph and onnxruntime on the logits (logits up to about 10). "
                "onnxruntime int8: the cosine of onnxruntime's own `quantize_static` (QDQ, per-channel int8 "
                "weights, MinMax on the same calibration images) on the same images, for scale: random-init "
                "networks amplify quantization noise layer after layer, whoever quantizes them.\n",
                "| family | core | nodes | bit-exact | cosine mean | cosine min | onnxruntime int8 cosine "
                "| import error | arena KiB "
                "| weights KiB | code KiB | build s |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in onnx_part["rows"]:
            if "error" in r:
                out.append(f"| {r['model']} | {r['core']} | FAILED: {r['error']} ||||||||||")
                continue
            out.append(f"| {r['model']} | {r['core']} | {r['nodes']} | {r['bit_exact']}/{r['images']} "
                       f"| {r['cos_mean']:.4f} | {r['cos_min']:.4f} | {r['ort_cos_mean']:.4f} "
                       f"| {r['import_max_abs_err']:.1e} "
                       f"| {_kib(r['arena_bytes'])} | {_kib(r['weights_bytes'])} | {_kib(r['code_bytes'])} "
                       f"| {r['build_time_s']} |")
        ok = [r for r in onnx_part["rows"] if "error" not in r]
        if ok:
            gap = [r["cos_mean"] - r["ort_cos_mean"] for r in ok]
            exact = sum(r["bit_exact"] == r["images"] for r in ok)
            out.append(f"\n{exact} of {len(onnx_part['rows'])} builds bit-exact on every image. mbmicro's cosine "
                       f"minus onnxruntime's int8 cosine: {min(gap):+.4f} to {max(gap):+.4f} (the same "
                       "quantization quality; the low absolute values are the random-init networks').")
    if tfl_part:
        m = tfl_part["manifest"]
        out += [f"\n### Keras int8 .tflite vs TensorFlow Lite Micro (TensorFlow {m['tensorflow']}, "
                f"Keras {m['keras']})\n",
                "`keras.applications.MobileNetV2` (`tools/keras_tflite.py`), random init with BatchNorm statistics "
                f"set on random images, {m['resolution']} px, {m['classes']} logits, full-integer quantized by the "
                "TFLite converter with a random representative dataset (int8 input and output). Built by mbmicro, "
                f"run in QEMU on {tfl_part['images']} seeded random int8 inputs; TFLite Micro: the `tflite-micro` "
                "Python interpreter on the same file and inputs. Equal: byte-for-byte equal outputs.\n",
                "| model | core | file KiB | nodes | equal to TFLite Micro | equal to the int8 reference "
                "| arena KiB | weights KiB | code KiB | build s |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        files = m["files"]
        for r in tfl_part["rows"]:
            size = _kib(files[r["model"]]["bytes"])
            if "error" in r:
                out.append(f"| {r['model']} | {r['core']} | {size} | FAILED: {r['error']} |||||||")
                continue
            out.append(f"| {r['model']} | {r['core']} | {size} | {r['nodes']} | {r['equal_tflm']}/{r['inputs']} "
                       f"| {r['equal_reference']}/{r['inputs']} | {_kib(r['arena_bytes'])} "
                       f"| {_kib(r['weights_bytes'])} | {_kib(r['code_bytes'])} | {r['build_time_s']} |")
    if not (onnx_part or tfl_part):
        out.append("\nNot measured yet: make the model files (see the script's docstring), then run it.\n")
    out.append("\nThe model files are not committed; their SHA-256 are in `benchmarks/results/imports.json`.\n")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4, help="inputs per model and core (default 4)")
    ap.add_argument("--only", choices=["onnx", "tflite"], help="measure one kind (the other is kept as committed)")
    ap.add_argument("--models", help="comma-separated family / .tflite names (default: all in the manifests)")
    args = ap.parse_args(argv)
    models = set(args.models.split(",")) if args.models else None
    old = json.loads(RESULT_JSON.read_text()) if RESULT_JSON.exists() else {}
    results = {}
    for kind, folder, job in (("onnx", ONNX_DIR, onnx_job), ("tflite", TFLITE_DIR, tflite_job)):
        measured = None if args.only not in (None, kind) else measure(kind, folder, job, args.images, models)
        if measured is None:
            if kind in old:
                print(f"{kind}: not measured (no model files in {folder.relative_to(ROOT)}, or --only): "
                      "keeping the committed results")
                results[kind] = old[kind]
            continue
        results[kind] = merge(old.get(kind), measured)
    RESULT_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULT_JSON.write_text(json.dumps(results, indent=1) + "\n")
    RESULT_MD.write_text(render(results))
    print(f"wrote {RESULT_JSON.relative_to(ROOT)} and {RESULT_MD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
