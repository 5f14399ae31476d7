"""Export every Table A family as timm builds it to a float ONNX file.

Why: issue 8's import benchmark (benchmarks/imports.py) must import models
the way a user brings them -- ``torch.onnx.export`` of a timm model -- not
mbmicro's own export.  This script makes those files; mbmicro itself never
needs torch or timm.

Each family is the timm model that tools/timm_shapes.py maps it to (its
``FAMILIES``: the timm ``*_100`` models, and for FBNet-B and ProxylessNAS-R,
which timm lacks, Table A's blocks through timm's EfficientNet builder) at
width 1.0, 10 classes, random init (``torch.manual_seed``: no weights are
downloaded).  Random init leaves every BatchNorm at mean 0 / variance 1, so
the activations would drift in scale layer after layer; one forward pass in
training mode with cumulative statistics (``momentum=None``) on seeded
uniform [-1, 1] images sets each BatchNorm's statistics to those of its
input, as a trained model's are.  The model is then exported in eval mode at
(1, 3, 96, 96), opset 17, with the TorchScript exporter (``dynamo=False``:
the exporter the importer's patterns were written from).

Writes ``DIR/<family>.onnx`` and ``DIR/manifest.json`` (versions, source,
SHA-256 of each file; benchmarks/imports.py copies it into its results).
``--ci`` writes instead the one small file tests/test_arm_imports.py builds
(``CI_FILE``: timm's ``test_efficientnet``, a 100k-parameter EfficientNet
with fused-MBConv, MBConv, squeeze-excite and SiLU, at 64 px, 10 classes:
400 KB, so it can be committed, and quick to build).

Run it in a venv with torch and timm (not a dependency of mbmicro)::

    python3 -m venv /tmp/venv-timm
    /tmp/venv-timm/bin/pip install torch==2.14.1 torchvision==0.29.1 onnx
    /tmp/venv-timm/bin/pip install timm --no-deps
    /tmp/venv-timm/bin/pip install huggingface_hub safetensors pyyaml
    PYTHONPATH=. /tmp/venv-timm/bin/python tools/timm_export.py [-o out/timm-onnx] [--families a,b]
    PYTHONPATH=. /tmp/venv-timm/bin/python tools/timm_export.py --ci
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import onnx
import timm
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timm_shapes import FAMILIES  # noqa: E402  (the family -> timm model map, one place)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "out" / "timm-onnx"
CI_FILE = ROOT / "tests" / "data" / "onnx" / "timm_test_efficientnet_64px.onnx"
CI_RESOLUTION = 64
RESOLUTION, CLASSES, WIDTH, OPSET = 96, 10, 1.0, 17
BN_IMAGES = 16


def set_batchnorm_statistics(model: torch.nn.Module, resolution: int, seed: int) -> None:
    """Give every BatchNorm the mean and variance of its input on seeded uniform images."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one pass sets the batch's statistics
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(BN_IMAGES, 3, resolution, resolution, generator=gen) * 2 - 1
    model.train()
    with torch.no_grad():
        model(images)
    model.eval()


def export(model: torch.nn.Module, resolution: int, path: Path) -> str:
    """torch.onnx.export of the eval-mode model at batch 1; returns the file's SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    x = torch.zeros(1, 3, resolution, resolution)
    torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["logits"],
                      opset_version=OPSET, do_constant_folding=True, dynamo=False)
    onnx.checker.check_model(onnx.load(str(path)))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_family(index: int, family: str) -> torch.nn.Module:
    """The timm model of ``family`` (seeded random init, BatchNorm statistics set)."""
    torch.manual_seed(index)
    model = FAMILIES[family][1](WIDTH, num_classes=CLASSES)
    set_batchnorm_statistics(model, RESOLUTION, seed=1000 + index)
    return model


def export_families(out: Path, families: list[str]) -> dict:
    """Export ``families`` into ``out``; returns the manifest (also written as manifest.json)."""
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest.update({"generated_by": "tools/timm_export.py", "torch": torch.__version__,
                     "timm": timm.__version__, "width": WIDTH, "resolution": RESOLUTION, "classes": CLASSES,
                     "opset": OPSET})
    files = manifest.setdefault("files", {})
    for index, family in enumerate(FAMILIES):
        if family not in families:
            continue
        model = make_family(index, family)
        params = sum(p.numel() for p in model.parameters())
        sha = export(model, RESOLUTION, out / f"{family}.onnx")
        files[family] = {"file": f"{family}.onnx", "source": FAMILIES[family][0], "seed": index,
                         "parameters": params, "sha256": sha}
        print(f"{family}: {params:,} parameters -> {out / (family + '.onnx')}", flush=True)
    manifest["files"] = {f: files[f] for f in FAMILIES if f in files}
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def export_ci_file() -> None:
    """The small committed model of tests/test_arm_imports.py."""
    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=CLASSES)
    set_batchnorm_statistics(model, CI_RESOLUTION, seed=0)
    sha = export(model, CI_RESOLUTION, CI_FILE)
    print(f"wrote {CI_FILE} ({CI_FILE.stat().st_size:,} B, sha256 {sha})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated (default: all 11)")
    parser.add_argument("--ci", action="store_true", help=f"write only {CI_FILE.relative_to(ROOT)}")
    args = parser.parse_args()
    if args.ci:
        export_ci_file()
        return
    families = [f for f in args.families.split(",") if f]
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        parser.error(f"unknown families {unknown}: pick from {', '.join(FAMILIES)}")
    export_families(args.out, families)


if __name__ == "__main__":
    main()
